"""The published JSON Schemas: in step with the models, and agreeing with them on examples."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner

from reconciler.cli import main
from reconciler.manifests import ManifestError, load
from reconciler.manifests.documents import parse
from reconciler.manifests.schema import render, schemas

ROOT = Path(__file__).resolve().parents[1]
SCHEMAS = ROOT / "schemas"
EXAMPLES = ROOT / "examples"


def _validator(name: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((SCHEMAS / name).read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _documents(path: Path) -> list[Any]:
    parsed = parse(path.read_text(encoding="utf-8"))
    assert parsed.error is None
    return [document.data for document in parsed.documents if document.data is not None]


def test_schemas_folder_is_what_the_models_generate() -> None:
    expected = {name: render(schema) for name, schema in schemas().items()}
    published = {path.name: path.read_text(encoding="utf-8") for path in SCHEMAS.glob("*.json")}
    stale = sorted(name for name in expected if published.get(name) != expected[name])
    extra = sorted(set(published) - set(expected))
    assert not stale and not extra, (
        f"schemas/ is out of date (stale: {stale}, not generated: {extra});"
        " run `reconciler schema` and commit the result"
    )


def test_schema_command_writes_every_schema(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["schema", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    written = {path.name: path.read_text(encoding="utf-8") for path in (tmp_path / "out").iterdir()}
    assert written == {name: render(schema) for name, schema in schemas().items()}


def test_every_example_manifest_is_valid_for_the_published_schema() -> None:
    manifests = _validator("manifest.json")
    files = sorted(
        path
        for path in EXAMPLES.rglob("*.y*ml")
        if path.name not in ("reconciler.yaml", "reconciler.yml")
    )
    assert files, "no example manifests found"
    checked = 0
    for path in files:
        for document in _documents(path):
            errors = [error.message for error in manifests.iter_errors(document)]
            assert not errors, f"{path}: {errors}"
            checked += 1
    loaded = load([EXAMPLES])
    assert checked == len(loaded.manifests)


def test_every_example_project_config_is_valid_for_the_published_schema() -> None:
    config = _validator("reconciler-config.json")
    files = sorted(EXAMPLES.rglob("reconciler.yaml"))
    assert files
    for path in files:
        for document in _documents(path):
            assert not [error.message for error in config.iter_errors(document)], path


SESSION = {
    "apiVersion": "reconciler/v1",
    "kind": "Session",
    "metadata": {"name": "cardiology-0900", "labels": {"clinic": "cardiology"}},
    "spec": {
        "session_name": "Cardiology follow-up",
        "start_time": "2026-12-01T09:00:00+11:00",
        "duration": "30m",
        "participants": [{"name": "dr-who", "display_name": "Dr. Who", "role": "HOST"}],
    },
}


def _with(path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    document = json.loads(json.dumps(SESSION))
    target = document
    for part in path[:-1]:
        target = target[part]
    if value is _REMOVE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return document  # type: ignore[no-any-return]


_REMOVE = object()

CASES = [
    pytest.param(SESSION, True, id="valid"),
    pytest.param(_with(("spec", "end_time"), "2026-12-01T09:30:00+11:00"), False, id="both-ends"),
    pytest.param(_with(("spec", "duration"), _REMOVE), False, id="no-end"),
    pytest.param(_with(("spec", "start_time"), "2026-12-01T09:00:00"), False, id="naive-time"),
    pytest.param(
        _with(("spec", "start_time"), "Tue, 01 Dec 2026 22:00:00 GMT"), True, id="rfc1123"
    ),
    pytest.param(_with(("spec", "picture"), "javascript:alert(1)"), False, id="js-picture"),
    pytest.param(_with(("spec", "picture"), "https://example.org/a.png"), True, id="picture"),
    pytest.param(_with(("spec", "participants", 0, "role"), "doctor"), False, id="bad-role"),
    pytest.param(_with(("spec", "participants", 0, "rolee"), "host"), False, id="unknown-field"),
    pytest.param(_with(("metadata", "name"), "../../etc/passwd"), False, id="traversal-name"),
    pytest.param(_with(("metadata", "labels"), {"bad key": "x"}), False, id="label-key"),
    pytest.param(_with(("spec", "duration"), "PT45M"), True, id="iso-duration"),
    pytest.param(_with(("kind",), "Sesion"), False, id="unknown-kind"),
    pytest.param(_with(("apiVersion",), "reconciler/v2"), False, id="api-version"),
]


@pytest.mark.parametrize(("document", "valid"), CASES)
def test_schema_and_models_agree(tmp_path: Path, document: dict[str, Any], valid: bool) -> None:
    schema_says = not list(_validator("manifest.json").iter_errors(document))
    (tmp_path / "m.yaml").write_text(json.dumps(document), encoding="utf-8")
    try:
        load([tmp_path])
        models_say = True
    except ManifestError:
        models_say = False
    assert (schema_says, models_say) == (valid, valid)
