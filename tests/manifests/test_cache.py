"""The parsed-manifest cache: a file unchanged since the last run is not parsed again, and
nothing a run reports or plans differs from a run without it."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from reconciler.manifests import ManifestError, load
from reconciler.manifests.cache import ParseCache, cache_folder
from reconciler.manifests.composer import parse
from reconciler.manifests.documents import DEFAULT_LIMITS

SESSION = """apiVersion: reconciler/v1
kind: Session
metadata:
  name: {name}
spec:
  session_name: {title}
  start_time: 2026-12-07T09:00:00+11:00
  duration: 30m
  participants:
    - name: doctor
      display_name: Dr. Who
      role: host
      state: "02134"
"""


def tree(root: Path, **titles: str) -> Path:
    """One file per session, named after it; returns `root`."""
    root.mkdir(exist_ok=True)
    for name, title in titles.items():
        (root / f"{name}.yaml").write_text(SESSION.format(name=name, title=title))
    return root


def entries(folder: Path) -> dict[str, Any]:
    [cache_file] = folder.glob("parsed-*.json")
    content: dict[str, Any] = json.loads(cache_file.read_text())
    found: dict[str, Any] = content["entries"]
    return found


def test_a_second_load_reads_every_file_from_the_cache_and_equals_a_load_without_it(
    tmp_path: Path,
) -> None:
    root = tree(tmp_path / "m", a="Alpha", b="Beta")
    folder = tmp_path / "cache"
    first = load([root], cache=folder)
    assert sorted(Path(name).name for name in entries(folder)) == ["a.yaml", "b.yaml"]
    cache = ParseCache.open(folder, [root], DEFAULT_LIMITS)
    assert cache is not None
    second = load([root], cache=folder)
    assert second == first == load([root])
    # What the second run read came from the cache: the entries hold each file's key.
    for name, (key, _) in entries(folder).items():
        assert key == cache.key(Path(name).read_text())


def test_a_changed_file_is_parsed_again(tmp_path: Path) -> None:
    root = tree(tmp_path / "m", a="Alpha", b="Beta")
    folder = tmp_path / "cache"
    load([root], cache=folder)
    tree(root, b="Beta, moved")
    titles = {
        loaded.manifest.metadata.name: loaded.manifest.spec.session_name  # type: ignore[union-attr]
        for loaded in load([root], cache=folder).manifests
    }
    assert titles == {"a": "Alpha", "b": "Beta, moved"}


def test_a_mistake_beside_cached_files_is_reported_exactly_as_without_the_cache(
    tmp_path: Path,
) -> None:
    root = tree(tmp_path / "m", a="Alpha", b="Beta")
    folder = tmp_path / "cache"
    load([root], cache=folder)
    # A new file reuses a's name: the message points into a.yaml, which is cached.
    (root / "c.yaml").write_text(SESSION.format(name="a", title="Again"))
    with pytest.raises(ManifestError) as cached:
        load([root], cache=folder)
    with pytest.raises(ManifestError) as uncached:
        load([root])
    assert cached.value.problems == uncached.value.problems
    assert f"{root / 'a.yaml'}:4:3" in str(cached.value)


def test_a_file_with_a_problem_is_never_kept(tmp_path: Path) -> None:
    root = tree(tmp_path / "m", a="Alpha")
    (root / "broken.yaml").write_text("kind: Session\nmetadata: {name: [\n")
    folder = tmp_path / "cache"
    with pytest.raises(ManifestError):
        load([root], cache=folder)
    assert not list(folder.glob("parsed-*.json"))  # nothing is written by a failed load


@pytest.mark.parametrize("content", ["{", '{"format": 1, "entries": {"x": 5}}', "[]", "\x00"])
def test_an_unreadable_cache_is_ignored_and_written_anew(tmp_path: Path, content: str) -> None:
    root = tree(tmp_path / "m", a="Alpha")
    folder = tmp_path / "cache"
    load([root], cache=folder)
    [cache_file] = folder.glob("parsed-*.json")
    cache_file.write_text(content)
    assert load([root], cache=folder) == load([root])
    assert list(entries(folder)) == [str(root / "a.yaml")]


def test_an_entry_for_other_text_is_not_used(tmp_path: Path) -> None:
    """An entry is used only for the exact text it was made from."""
    root = tree(tmp_path / "m", a="Alpha")
    folder = tmp_path / "cache"
    load([root], cache=folder)
    [cache_file] = folder.glob("parsed-*.json")
    content = json.loads(cache_file.read_text())
    [(_, (_, documents))] = content["entries"].items()
    documents[0][2]["spec"]["session_name"] = "Forged"
    cache_file.write_text(json.dumps(content))
    assert load([root], cache=folder).manifests[0].manifest.spec.session_name == "Forged"  # type: ignore[union-attr]
    # The entry is keyed by the text: once the file changes, the forged entry is dead.
    tree(root, a="Alpha.")
    assert load([root], cache=folder).manifests[0].manifest.spec.session_name == "Alpha."  # type: ignore[union-attr]


def test_a_folder_others_may_write_to_is_not_used(tmp_path: Path) -> None:
    root = tree(tmp_path / "m", a="Alpha")
    folder = tmp_path / "shared"
    folder.mkdir()
    folder.chmod(0o777)
    assert ParseCache.open(folder, [root], DEFAULT_LIMITS) is None
    assert load([root], cache=folder) == load([root])
    assert not list(folder.iterdir())


def test_the_folder_comes_from_the_environment_and_off_turns_it_off(tmp_path: Path) -> None:
    assert cache_folder({"RECONCILER_CACHE_DIR": str(tmp_path)}) == tmp_path
    assert cache_folder({"RECONCILER_CACHE_DIR": "off"}) is None
    assert cache_folder({"XDG_CACHE_HOME": "/x"}) == Path("/x/reconciler")
    assert cache_folder({"HOME": "/home/u"}) == Path("/home/u/.cache/reconciler")


def strictly_equal(left: Any, right: Any) -> bool:
    """Equal, and of the same types all the way down (True is not 1, 1.0 is not 1)."""
    if type(left) is not type(right):
        return False
    if isinstance(left, dict):
        return left.keys() == right.keys() and all(
            strictly_equal(value, right[key]) for key, value in left.items()
        )
    if isinstance(left, list):
        return len(left) == len(right) and all(map(strictly_equal, left, right))
    if isinstance(left, float) and math.isnan(left):
        return math.isnan(right)
    return bool(left == right)


scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(documents=st.lists(st.dictionaries(st.text(max_size=8), values, max_size=4), max_size=3))
def test_what_the_cache_gives_back_is_what_the_parser_made(
    tmp_path_factory: pytest.TempPathFactory, documents: list[dict[str, Any]]
) -> None:
    folder = tmp_path_factory.mktemp("cache")
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    stream = io.StringIO()
    yaml.dump_all(documents, stream)
    text = stream.getvalue()
    parsed = parse(text)
    if parsed.error is not None or any(doc.issues for doc in parsed.documents):
        return  # never kept
    cache = ParseCache.open(folder, [folder], DEFAULT_LIMITS)
    assert cache is not None
    cache.put("f.yaml", text, parsed)
    cache.save()
    again = ParseCache.open(folder, [folder], DEFAULT_LIMITS)
    assert again is not None
    found = again.get("f.yaml", text)
    assert found is not None
    assert len(found.documents) == len(parsed.documents)
    for cached, made in zip(found.documents, parsed.documents, strict=True):
        assert (cached.line, cached.column) == (made.line, made.column)
        assert strictly_equal(cached.data, made.data)


def test_another_version_of_the_yaml_parser_parses_every_file_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tree(tmp_path / "m", a="Alpha")
    folder = tmp_path / "cache"
    load([root], cache=folder)
    text = (root / "a.yaml").read_text()
    cache = ParseCache.open(folder, [root], DEFAULT_LIMITS)
    assert cache is not None
    assert cache.get(str(root / "a.yaml"), text) is not None
    monkeypatch.setattr("reconciler.manifests.cache.ruamel_version", "99.0")
    upgraded = ParseCache.open(folder, [root], DEFAULT_LIMITS)
    assert upgraded is not None
    assert upgraded.get(str(root / "a.yaml"), text) is None
