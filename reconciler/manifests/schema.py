"""JSON Schemas generated from the models, so editors check manifests as people type.

`schemas/` in the repository is this module's output; a test fails when it is stale.
"""

from __future__ import annotations

import json
from typing import Any, Final

from pydantic import BaseModel, TypeAdapter

from reconciler.manifests.config import ProjectConfig
from reconciler.manifests.models import Manifest, Session, SnapshotApproval

DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"


def _schema(source: type[BaseModel] | TypeAdapter[Any], title: str) -> dict[str, Any]:
    if isinstance(source, TypeAdapter):
        generated = source.json_schema(by_alias=True)
    else:
        generated = source.model_json_schema(by_alias=True)
    generated.pop("title", None)
    return {"$schema": DIALECT, "title": title, **generated}


def schemas() -> dict[str, dict[str, Any]]:
    """Every schema, by the file name it is published under."""
    return {
        "session.json": _schema(Session, "reconciler Session"),
        "snapshot-approval.json": _schema(SnapshotApproval, "reconciler SnapshotApproval"),
        "manifest.json": _schema(
            TypeAdapter(Manifest), "reconciler manifest (Session or SnapshotApproval)"
        ),
        "reconciler-config.json": _schema(ProjectConfig, "reconciler.yaml project config"),
    }


def render(schema: dict[str, Any]) -> str:
    """The published text of a schema: stable, indented, ending in a newline."""
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
