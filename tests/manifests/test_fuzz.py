"""Property tests: whatever is in the files, `load()` answers with manifests or with problems.

Never a traceback, never an exception other than ManifestError; every problem names its
file and says something. And the two YAML event sources read the same text the same way.
"""

from __future__ import annotations

import io
import math
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from reconciler.manifests import ManifestError, ManifestSet, load
from reconciler.manifests.composer import parse, python_events
from tests.evidence import Evidence, soak_laps
from tests.manifests.samples import SESSION

FUZZ = settings(
    max_examples=150 * soak_laps(),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

YAML_WORDS = [
    # Values that mean something to the loader: times, durations, names, YAML words.
    "2026-12-01T09:00:00+11:00",
    "2026-12-01T09:00:00",
    "Tue, 01 Dec 2026 22:00:00 GMT",
    "30m",
    "-1h",
    "PT30M",
    "host",
    "guest",
    "approved",
    "Session",
    "SnapshotApproval",
    "reconciler/v1",
    "https://example.org/a.png",
    "javascript:alert(1)",
    "no",
    "on",
    "<<",
    "~",
]


SHORT_TEXT = st.text(max_size=30)


def json_like(text: st.SearchStrategy[str] = SHORT_TEXT) -> st.SearchStrategy[Any]:
    """Data as JSON could hold it, with text drawn from `text`."""
    leaves = (
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False)
        | text
        | st.sampled_from(YAML_WORDS)
    )
    return st.recursive(
        leaves,
        lambda children: (
            st.lists(children, max_size=4) | st.dictionaries(text, children, max_size=4)
        ),
        max_leaves=20,
    )


# Known disagreements, asserted as facts in test_documents.py:
# - U+0085, U+2028 and U+2029 end a line for libyaml and not for the pure parser, so
#   `composer.parse` reads them differently (`load()` refuses them in files.read_text,
#   before parsing);
# - both parsers refuse a plain flow key starting with ':' (YAML 1.2 allows it).
# Not disagreements: whatever libyaml refuses (a ':' or '?' inside a plain scalar in flow
# style) is re-read by the pure parser; an escaped lone surrogate ("\ud800") is refused
# by both sources, on the same line.
LINE_BREAKS_OF_YAML_1_1 = "\x85\u2028\u2029"
text_both_read_alike = st.text(
    alphabet=st.characters(blacklist_characters=LINE_BREAKS_OF_YAML_1_1),
    max_size=20,
)
text_both_read_alike_in_flow_style = text_both_read_alike.filter(
    lambda text: "?" not in text and not text.startswith(":")
)
SURROGATE = re.compile("[\ud800-\udfff]")


def dump(data: Any, *, flow: bool = True, wrap: bool = True) -> str:
    """`data` as YAML, written by ruamel.yaml (flow style for the innermost collections).

    Unless `wrap`, no line is folded: ruamel.yaml folds a long plain key of a flow mapping
    onto two lines, which is not YAML any parser reads (an implicit key is one line).
    """
    yaml = YAML(typ="safe", pure=True)
    if not flow:
        yaml.default_flow_style = False
    if not wrap:
        yaml.width = 1_000_000
    stream = io.StringIO()
    yaml.dump(data, stream)
    return stream.getvalue()


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder for every example of a module (hypothesis reruns a test, not its fixtures)."""
    path = tmp_path_factory.mktemp("fuzz")
    (path / ".git").mkdir()
    return path


TALLY: Counter[str] = Counter()
"""What the loader made of every input of this module: loaded, or problems reported."""


@pytest.fixture(scope="module", autouse=True)
def tally(evidence: Evidence) -> Iterator[None]:
    TALLY.clear()
    yield
    evidence.record(
        "Bad input does no harm",
        "manifest loader fuzzed: any text, bytes or structure (hypothesis)",
        runs=TALLY.total(),
        loaded=TALLY["loaded"],
        **{"problems reported": TALLY["problems"], "crashed": TALLY["crashed"]},
    )


def load_answers(path: Path) -> ManifestSet | None:
    """Load `path`: a ManifestSet, or None after checking every problem is well formed."""
    try:
        loaded = load([path])
    except ManifestError as raised:
        error = raised
    except BaseException:
        TALLY["crashed"] += 1
        raise
    else:
        TALLY["loaded"] += 1
        return loaded
    TALLY["problems"] += 1
    assert error.problems, "a ManifestError without problems"
    for problem in error.problems:
        assert problem.path == str(path)
        assert problem.message.strip()
        assert problem.line >= 0
        assert problem.column >= 0
        assert (problem.line == 0) == (problem.column == 0)
        assert problem.render().startswith(str(path))
    assert str(error).startswith(error.problems[0].render())
    return None


# --- (a) arbitrary files --------------------------------------------------------------------


@FUZZ
@given(text=st.text())
@example(text="")
@example(text="\x00")
@example(text="a: &a [*a]")
@example(text="? [a]\n: b")
@example(text="- " * 200 + "x")
@example(text=SESSION.replace("end_time", "duration"))
@example(text=SESSION[:200])
def test_any_text_loads_or_is_reported_as_problems(folder: Path, text: str) -> None:
    path = folder / "text.yaml"
    path.write_text(text, encoding="utf-8")
    load_answers(path)


@FUZZ
@given(data=st.binary(max_size=2000))
@example(data=b"\xff\xfe\x00\x00")
@example(data=b"\xef\xbb\xbf")
@example(data=b"\xc3")
@example(data=SESSION.encode("utf-16"))
@example(data=SESSION.encode()[:-3] + b"\xe9\n")
def test_any_bytes_load_or_are_reported_as_problems(folder: Path, data: bytes) -> None:
    path = folder / "bytes.yaml"
    path.write_bytes(data)
    load_answers(path)


def test_a_mutated_session_still_loads_or_reports(folder: Path) -> None:
    """Every single-character deletion of a valid manifest: never anything but problems."""
    path = folder / "mutated.yaml"
    for index in range(0, len(SESSION), 3):
        path.write_text(SESSION[:index] + SESSION[index + 1 :], encoding="utf-8")
        load_answers(path)


# --- (b) arbitrary structures, alone and inside a Session -----------------------------------


@FUZZ
@given(data=json_like(), flow=st.booleans())
def test_any_dumped_structure_loads_or_is_reported_as_problems(
    folder: Path, data: Any, flow: bool
) -> None:
    path = folder / "structure.yaml"
    path.write_text(dump(data, flow=flow), encoding="utf-8")
    load_answers(path)


def session_data() -> dict[str, Any]:
    """The sample Session as data, the way ruamel.yaml's safe loader reads it."""
    data: dict[str, Any] = YAML(typ="safe", pure=True).load(SESSION)
    return data


def places(data: Any, loc: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every key and index path inside `data`, the root included."""
    yield loc
    if isinstance(data, dict):
        for key, value in data.items():
            yield from places(value, (*loc, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from places(value, (*loc, index))


SESSION_PLACES = list(places(session_data()))[1:]


@FUZZ
@given(
    where=st.sampled_from(SESSION_PLACES),
    value=json_like(),
    add=st.booleans(),
    flow=st.booleans(),
)
def test_any_structure_anywhere_in_a_session_loads_or_is_reported_as_problems(
    folder: Path, where: tuple[Any, ...], value: Any, add: bool, flow: bool
) -> None:
    data = session_data()
    parent = data
    for part in where[:-1]:
        parent = parent[part]
    last = where[-1]
    if add and isinstance(parent, dict):
        parent[f"{last}_extra"] = value  # an unknown field beside a known one
    else:
        parent[last] = value
    path = folder / "session.yaml"
    path.write_text(dump(data, flow=flow), encoding="utf-8")
    load_answers(path)


# --- (c) the two event sources agree --------------------------------------------------------


def same(left: Any, right: Any) -> bool:
    """Equal, with NaN equal to NaN."""
    if isinstance(left, float) and isinstance(right, float):
        return (math.isnan(left) and math.isnan(right)) or left == right
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(same(left[k], right[k]) for k in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(same, left, right))
    return type(left) is type(right) and left == right


def holds_a_surrogate(data: Any) -> bool:
    """Whether any text of `data`, keys included, holds half a character."""
    if isinstance(data, str):
        return SURROGATE.search(data) is not None
    if isinstance(data, dict):
        return any(holds_a_surrogate(key) or holds_a_surrogate(data[key]) for key in data)
    if isinstance(data, list):
        return any(map(holds_a_surrogate, data))
    return False


def assert_sources_agree(text: str, *, refused: bool = False) -> None:
    """Both sources read `text` alike; if `refused`, both refuse it on the same line (each
    says where in its own way: libyaml at the escape, the pure source at its value)."""
    by_c, by_python = parse(text), parse(text, events=python_events)
    if refused:
        assert by_c.error is not None
        assert by_python.error is not None
        assert by_c.error.line == by_python.error.line
    else:
        assert by_c.error is None
        assert by_python.error is None
    assert len(by_c.documents) == len(by_python.documents)
    for c_document, python_document in zip(by_c.documents, by_python.documents, strict=True):
        assert same(c_document.data, python_document.data)
        assert c_document.marks == python_document.marks
        assert c_document.issues == python_document.issues


AGREE = settings(FUZZ, max_examples=60)


@AGREE
@given(data=json_like(text_both_read_alike))
@example(data={"name": "a\ud800"})
def test_both_event_sources_read_block_style_yaml_the_same(data: Any) -> None:
    assert_sources_agree(dump(data, flow=False), refused=holds_a_surrogate(data))


@AGREE
@given(data=st.lists(json_like(text_both_read_alike), min_size=2, max_size=3))
@example(data=[{"a": 1}, {"\udfff": 2}, [3]])
def test_both_event_sources_read_several_documents_the_same(data: list[Any]) -> None:
    assert_sources_agree(
        "---\n".join(dump(part, flow=False) for part in data), refused=holds_a_surrogate(data)
    )


@AGREE
@given(data=json_like(text_both_read_alike_in_flow_style))
@example(data={"at": {"start": "09:00"}})
@example(data=[{"picture": "https://example.org/a.png"}, "a\ud800"])
# With folding, ruamel.yaml would write the last key over two lines, which neither reads.
@example(data={"00": {"00": None, "0" * 10 + "\x1f\x1f\x1f\x7f": 1e16 + 2, "000001 0": None}})
def test_both_event_sources_read_flow_style_yaml_the_same(data: Any) -> None:
    assert_sources_agree(dump(data, flow=True, wrap=False), refused=holds_a_surrogate(data))
