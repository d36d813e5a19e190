"""`reconciler.yaml`: the project's own settings, found at the root of a manifest tree.

It has no `kind`, so it is never read as a manifest. It may name the APIs, the
inventory and the embedded emulator's starting clock (DESIGN.md §7), but never
credentials: it is committed to git, and secrets come from the environment.
Precedence, applied by the CLI: flag > environment > this file > built-in default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from reconciler.manifests.composer import parse
from reconciler.manifests.documents import Limits
from reconciler.manifests.explain import explain
from reconciler.manifests.fields import Text, Time, WebUrl
from reconciler.manifests.files import CONFIG_NAMES, read_text
from reconciler.manifests.problems import Problem

SECRET_WORDS: Final = ("secret", "password", "token", "key", "credential")
CREDENTIALS_HINT: Final = (
    "credentials never go in reconciler.yaml (it is committed to git): set COVIU_API_KEY,"
    " COVIU_API_SECRET, AUVIOUS_CLIENT_ID and AUVIOUS_CLIENT_SECRET in the environment"
)


class EmulatorSettings(BaseModel):
    """The embedded emulator (used when no API URL is configured)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    clock: Time | None = Field(
        default=None,
        description="Its clock when its database is first created, so examples keep working"
        " as years pass. From then on the database keeps its own clock.",
    )


class RateLimitSettings(BaseModel):
    """How hard the clients may call each service: the vendor's allowance for the account.

    Unset values keep the built-in defaults: 10 calls a second, bursts of as many calls as
    one second allows, and 8 calls open at once (or apply's --parallelism, if larger)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    per_second: float | None = Field(
        default=None, gt=0, le=100_000, description="Calls a second to each service (default 10)."
    )
    burst: int | None = Field(
        default=None,
        ge=1,
        le=100_000,
        description="Calls that may start at once after a quiet spell (default: per_second).",
    )
    in_flight: int | None = Field(
        default=None,
        ge=1,
        le=1_000,
        description="Calls open at once to each service (default 8, or apply's --parallelism"
        " if larger).",
    )


class ProjectConfig(BaseModel):
    """Settings for every command run on this manifest tree."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    coviu_url: WebUrl | None = Field(default=None, description="Coviu base URL, ending in /v1.")
    auvious_url: WebUrl | None = Field(default=None, description="Auvious base URL.")
    state: Text | None = Field(
        default=None,
        description="Inventory location: a SQLite file, relative to this file, or a"
        " postgresql://USER@HOST:PORT/DATABASE[?schema=NAME] URL without a password (the"
        " password comes from PGPASSWORD or ~/.pgpass, never from a file kept in git).",
    )
    emulator: EmulatorSettings = EmulatorSettings()
    max_cancels: int | None = Field(
        default=None,
        ge=0,
        description="The cancel budget: apply refuses a plan that cancels more sessions and"
        " participants than this, unless given --allow-mass-cancel (default 10;"
        " --max-cancels overrides).",
    )
    rate_limit: RateLimitSettings = Field(
        default=RateLimitSettings(),
        description="How hard the clients may call each service (the vendor's allowance).",
    )

    @field_validator("state")
    @classmethod
    def _no_password(cls, value: str | None) -> str | None:
        # reconciler.yaml lives in git: a password there is a leaked password. Read
        # loosely on purpose: user:password@ counts however its characters are written.
        if value and "://" in value:
            userinfo = value.split("://", 1)[1].rpartition("@")[0]
            if ":" in userinfo or "password=" in value.lower():
                raise ValueError(
                    "a password does not belong in reconciler.yaml, which is kept in git:"
                    " remove it and set PGPASSWORD, use ~/.pgpass, or give the whole URL in"
                    " RECONCILER_STATE from a secret"
                )
        return value


def find_config(start: Path) -> Path | None:
    """The `reconciler.yaml` of the tree holding `start` (an absolute path): walk up,
    stopping at a git root."""
    folder = (start if start.is_dir() else start.parent).resolve()
    for candidate in (folder, *folder.parents):
        for name in CONFIG_NAMES:
            if (candidate / name).is_file():
                return candidate / name
        if (candidate / ".git").exists():
            return None
    return None


def read_config(path: str, limits: Limits, problems: list[Problem]) -> ProjectConfig:
    """Read `path` as project config; on a problem, record it and return the defaults."""
    text = read_text(path, limits)
    if isinstance(text, Problem):
        problems.append(text)
        return ProjectConfig()
    parsed = parse(text, limits=limits)
    found = [issue.problem(path) for document in parsed.documents for issue in document.issues]
    if parsed.error is not None:
        found.append(parsed.error.problem(path))
    documents = [document for document in parsed.documents if document.data is not None]
    if len(documents) > 1:
        found.append(documents[1].problem(path, (), "project config is a single document"))
    if found or not documents:
        problems.extend(found)
        return ProjectConfig()
    document = documents[0]
    try:
        return ProjectConfig.model_validate(document.data)
    except ValidationError as error:
        details = error.errors(include_url=False)
        for loc, message in explain(details, root=ProjectConfig, written=document.written):
            secret = message.startswith("unknown field") and _looks_secret(loc)
            problems.append(document.problem(path, loc, CREDENTIALS_HINT if secret else message))
        return ProjectConfig()


def _looks_secret(loc: tuple[str | int, ...]) -> bool:
    return any(word in str(loc[-1]).lower() for word in SECRET_WORDS) if loc else False
