"""Where an inventory lives: a SQLite file, or a schema in a PostgreSQL database.

`--state`, RECONCILER_STATE and reconciler.yaml `state` name one as text: a path, or a
`postgresql://` (or `postgres://`) URL in libpq's form with one addition, `?schema=NAME`
(default `reconciler`), so several inventories can share a database. A PostgreSQL
location shows itself without its password (`str`, `repr`), so it can be named in every
message; only `conninfo` carries it, to the driver.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

DEFAULT_SCHEMA = "reconciler"
_SCHEMES = ("postgresql", "postgres")
_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_SECRET_PARAMETERS = frozenset({"password", "sslpassword"})


class LocationError(ValueError):
    """Text that names no usable inventory location; the message never holds a secret."""


@dataclass(frozen=True)
class PostgresLocation:
    """An inventory in schema `schema` of the PostgreSQL database `conninfo` reaches."""

    conninfo: str = field(repr=False)
    """The URL for libpq, `schema` taken out; it may hold a password."""
    schema: str
    shown: str
    """The URL without its password, for messages."""
    secrets: tuple[str, ...] = field(default=(), repr=False, compare=False)
    """What must never be shown: scrubbed from the driver's messages."""

    def __str__(self) -> str:
        return self.shown

    def scrub(self, text: str) -> str:
        """`text` with every secret of this location replaced by `***`."""
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text


Location = Path | PostgresLocation
"""Where an inventory lives."""


_LOOKS_POSTGRES = re.compile(r"(?i)\s*postgres(?:ql)?:")
_LOOKS_KEY_VALUE = re.compile(r"\s*[A-Za-z_]+\s*=")
_ENCODE_ADVICE = (
    "percent-encode the special characters of the user name and password"
    " (? as %3F, / as %2F, # as %23, @ as %40, : as %3A)"
)


def is_url(text: str) -> bool:
    """Whether `text` is meant as a URL rather than a file path."""
    return "://" in text or bool(_LOOKS_POSTGRES.match(text))


def parse_location(text: str) -> Location:
    """The location `text` names: a PostgreSQL URL, or else a file path.

    Raises `LocationError` for a URL of another scheme, a malformed one, one that
    PostgreSQL's client would read differently from how it is shown, or a bad `schema`.
    No message repeats the text: it may hold a password.
    """
    if _LOOKS_KEY_VALUE.match(text):
        raise LocationError(
            "a key=value connection string is not accepted as the inventory: give a"
            " postgresql://USER@HOST:PORT/DATABASE URL (the password in PGPASSWORD)"
        )
    if not is_url(text):
        return Path(text)
    location = _parse_url(text)
    _check_libpq_agrees(location)
    return location


def _parse_url(text: str) -> PostgresLocation:
    try:
        parts = urlsplit(text)
        password = parts.password
        username = parts.username
    except ValueError:
        # urlsplit's messages may quote the host part, which may hold the password.
        raise LocationError(
            "the inventory URL cannot be read as a URL: check the brackets around an IPv6"
            " address and the characters of the host part"
        ) from None
    if parts.scheme not in _SCHEMES:
        shown = parts.scheme if parts.scheme.isalnum() else "(unreadable)"
        raise LocationError(
            f"unsupported inventory URL scheme {shown!r}: give a file path, or a"
            " postgresql://USER@HOST:PORT/DATABASE URL"
        )
    if not text.strip()[len(parts.scheme) + 1 :].startswith("//"):
        raise LocationError(f"write the inventory URL as {parts.scheme}://USER@HOST/DATABASE")
    if parts.fragment or "#" in text:
        raise LocationError(f"the inventory URL holds a #: {_ENCODE_ADVICE}")
    # The query is kept as written, pair by pair: libpq decodes it with its own rules
    # (`+` is a plus), which a web-form parser would change.
    pairs = [_pair(raw) for raw in parts.query.split("&") if raw]
    schemas = [value for key, value, _ in pairs if key == "schema"]
    schema = schemas[-1] if schemas else DEFAULT_SCHEMA
    if not _SCHEMA_NAME.fullmatch(schema):
        raise LocationError(
            f"schema {schema!r} in the inventory URL: use lower-case letters, digits and"
            " underscores (at most 63, not starting with a digit)"
        )
    rest = [(key, value, raw) for key, value, raw in pairs if key != "schema"]
    secrets = [value for key, value, _ in rest if key in _SECRET_PARAMETERS]
    secrets += [raw.partition("=")[2] for key, _, raw in rest if key in _SECRET_PARAMETERS]
    if password:
        secrets += [password, unquote(password)]
    netloc = parts.netloc.rpartition("@")[2]
    if username is not None:
        netloc = f"{username}@{netloc}"
    shown_query = [raw for key, _, raw in rest if key not in _SECRET_PARAMETERS]
    shown_query.append(f"schema={schema}")
    shown = _url(parts.scheme, netloc, parts.path, shown_query)
    conninfo = _url(parts.scheme, parts.netloc, parts.path, [raw for _, _, raw in rest])
    ordered = sorted({s for s in secrets if s}, key=len, reverse=True)
    return PostgresLocation(conninfo=conninfo, schema=schema, shown=shown, secrets=tuple(ordered))


def _check_libpq_agrees(location: PostgresLocation) -> None:
    """Refuse a URL that libpq reads otherwise than it is shown: with an unencoded `?` or
    `/` in a password, libpq connects with it while the URL shown would hold it."""
    from psycopg.conninfo import conninfo_to_dict  # the driver, only for a URL

    try:
        read = conninfo_to_dict(location.conninfo)
    except Exception:  # the driver's message may quote the URL, password and all
        raise LocationError(
            f"PostgreSQL's client cannot read the inventory URL; {_ENCODE_ADVICE}"
        ) from None
    secrets = [str(read[key]) for key in _SECRET_PARAMETERS if read.get(key)]
    # An `@` past the host part is a user:password@ that a / cut off the host part.
    misplaced = any("@" in str(read.get(key) or "") for key in ("host", "dbname", "port"))
    if (
        misplaced
        or any(secret not in location.secrets for secret in secrets)
        or any(secret in location.shown for secret in (*secrets, *location.secrets))
    ):
        raise LocationError(
            f"the inventory URL reads differently to PostgreSQL's client than it looks;"
            f" {_ENCODE_ADVICE}"
        )


def _pair(raw: str) -> tuple[str, str, str]:
    """A query pair as (key, value) decoded as libpq decodes them, and as written."""
    key, _, value = raw.partition("=")
    return unquote(key), unquote(value), raw


def _url(scheme: str, netloc: str, path: str, query: list[str]) -> str:
    # Not urlunsplit: it drops an empty host (`postgresql:///db`), which libpq needs.
    return f"{scheme}://{netloc}{path}" + (f"?{'&'.join(query)}" if query else "")
