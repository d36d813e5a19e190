"""JSON Schemas generated from the models, so editors check manifests as people type.

`schemas/` in the repository is this module's output; a test fails when it is stale.
"""

from __future__ import annotations

import json
from typing import Any, Final

from pydantic import BaseModel, TypeAdapter

from reconciler.manifests.config import ProjectConfig
from reconciler.manifests.models import KINDS, Manifest, Session, SnapshotApproval

DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"


def _schema(model: type[BaseModel], title: str) -> dict[str, Any]:
    generated = model.model_json_schema(by_alias=True)
    generated.pop("title", None)
    return {"$schema": DIALECT, "title": title, **generated}


def _any_manifest() -> dict[str, Any]:
    """Either kind, chosen by `kind` with if/then: an editor then reports a Session's
    mistakes as a Session's, not as "matches none of the kinds"."""
    definitions = TypeAdapter(Manifest).json_schema(by_alias=True)["$defs"]
    return {
        "$schema": DIALECT,
        "title": "reconciler manifest (Session or SnapshotApproval)",
        "type": "object",
        "required": ["kind"],
        "properties": {"kind": {"enum": list(KINDS)}},
        "allOf": [
            {
                "if": {"properties": {"kind": {"const": kind}}, "required": ["kind"]},
                "then": {"$ref": f"#/$defs/{kind}"},
            }
            for kind in KINDS
        ],
        "$defs": definitions,
    }


def schemas() -> dict[str, dict[str, Any]]:
    """Every schema, by the file name it is published under."""
    return {
        "session.json": _schema(Session, "reconciler Session"),
        "snapshot-approval.json": _schema(SnapshotApproval, "reconciler SnapshotApproval"),
        "manifest.json": _any_manifest(),
        "reconciler-config.json": _schema(ProjectConfig, "reconciler.yaml project config"),
    }


def render(schema: dict[str, Any]) -> str:
    """The published text of a schema: stable, indented, ending in a newline."""
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
