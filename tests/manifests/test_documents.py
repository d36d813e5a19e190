"""`composer.parse`: YAML text to data with positions, the same through either event source.

Every test runs on libyaml's C parser (`events=None`, the default when ruamel.yaml.clib is
installed) and on ruamel.yaml's pure-Python parser (the fallback without it). Positions in
`Issue` and `Document.marks` are 0-based.
"""

from __future__ import annotations

import math
import subprocess
import sys
import time
from typing import Any

import pytest

from reconciler.manifests.composer import CParser, EventSource, parse, python_events
from reconciler.manifests.documents import Issue, Limits, Parsed
from reconciler.manifests.problems import field_text
from tests.manifests.samples import billion_laughs

SOURCES = [
    pytest.param(None, id="c"),
    pytest.param(python_events, id="python"),
]


@pytest.fixture(params=SOURCES)
def events(request: pytest.FixtureRequest) -> EventSource | None:
    return request.param  # type: ignore[no-any-return]


def only_document(parsed: Parsed) -> Any:
    """The one document of `parsed`, checking nothing went wrong while reading it."""
    assert parsed.error is None
    assert len(parsed.documents) == 1
    document = parsed.documents[0]
    assert document.issues == []
    assert document.complete
    return document


def only_issue(parsed: Parsed) -> Issue:
    """The one issue of the one document of `parsed`."""
    assert parsed.error is None
    assert len(parsed.documents) == 1
    issues = parsed.documents[0].issues
    assert len(issues) == 1, issues
    return issues[0]


def test_the_c_parser_is_installed_so_both_sources_are_really_tested() -> None:
    assert CParser is not None


# --- YAML 1.2 core schema ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        # YAML 1.1 booleans are text in YAML 1.2: `no` (Norway), `on`, `yes`, `off`, `y`.
        ("no", "no"),
        ("on", "on"),
        ("yes", "yes"),
        ("off", "off"),
        ("y", "y"),
        ("NO", "NO"),
        ("true", True),
        ("False", False),
        ("TRUE", True),
        ("1", 1),
        ("-7", -7),
        ("+1", 1),
        ("012", 12),
        ("1.5", 1.5),
        (".5", 0.5),
        ("1e3", 1000.0),
        ("0x1F", 31),
        ("0o17", 15),
        (".inf", math.inf),
        ("-.Inf", -math.inf),
        ("~", None),
        ("null", None),
        ("", None),
        # Not numbers in YAML 1.2 (they were in 1.1).
        ("1_000", "1_000"),
        ("0b11", "0b11"),
        ("0X1F", "0X1F"),
        # Quoted or tagged as text: text.
        ("'1'", "1"),
        ('"true"', "true"),
        ("'~'", "~"),
        ("''", ""),
        ("!!str 12", "12"),
        ("!!float 1", 1.0),
        ("!!int '7'", 7),
        # Times and dates stay text, for the models to read (YAML 1.1 made 09:00 = 540).
        ("09:00", "09:00"),
        ("2026-12-01", "2026-12-01"),
        ("2026-12-01T09:00:00+11:00", "2026-12-01T09:00:00+11:00"),
        ("Tue, 01 Dec 2026 22:00:00 GMT", "Tue, 01 Dec 2026 22:00:00 GMT"),
    ],
)
def test_plain_scalars_are_typed_by_the_yaml_1_2_core_schema(
    events: EventSource | None, written: str, expected: Any
) -> None:
    document = only_document(parse(f"value: {written}\n", events=events))
    value = document.data["value"]
    assert (type(value), value) == (type(expected), expected)


def test_nan_is_a_float(events: EventSource | None) -> None:
    value = only_document(parse("value: .nan\n", events=events)).data["value"]
    assert isinstance(value, float)
    assert math.isnan(value)


def test_keys_are_always_text_even_when_they_look_like_numbers(events: EventSource | None) -> None:
    document = only_document(parse("1: a\ntrue: b\n~: c\n", events=events))
    assert document.data == {"1": "a", "true": "b", "~": "c"}


# --- positions ------------------------------------------------------------------------------


def test_keys_and_list_items_are_marked_at_their_zero_based_line_and_column(
    events: EventSource | None,
) -> None:
    text = "spec:\n  participants:\n    - name: a\n      role: host\n    - b\n"
    document = only_document(parse(text, events=events))
    assert document.data == {"spec": {"participants": [{"name": "a", "role": "host"}, "b"]}}
    assert document.marks == {
        ("spec",): (0, 0),
        ("spec", "participants"): (1, 2),
        ("spec", "participants", 0): (2, 6),
        ("spec", "participants", 0, "name"): (2, 6),
        ("spec", "participants", 0, "role"): (3, 6),
        ("spec", "participants", 1): (4, 6),
    }


def test_flow_collections_are_marked_too(events: EventSource | None) -> None:
    document = only_document(parse("labels: {clinic: x, site: y}\nids: [1, 2]\n", events=events))
    assert document.marks == {
        ("labels",): (0, 0),
        ("labels", "clinic"): (0, 9),
        ("labels", "site"): (0, 20),
        ("ids",): (1, 0),
        ("ids", 0): (1, 6),
        ("ids", 1): (1, 9),
    }


def test_a_position_without_a_mark_falls_back_to_its_nearest_marked_ancestor(
    events: EventSource | None,
) -> None:
    document = only_document(parse("# comment\nspec:\n  a: 1\n", events=events))
    assert document.mark(("spec", "a", "deeper", 3)) == (2, 2)
    assert document.mark(("spec", "missing")) == (1, 0)
    assert document.mark(("nowhere",)) == (document.line, document.column)


def test_crlf_line_ends_count_as_one_line_each(events: EventSource | None) -> None:
    document = only_document(parse("a: 1\r\nb: 2\r\n", events=events))
    assert document.marks[("b",)] == (1, 0)


# --- duplicate keys -------------------------------------------------------------------------


def test_a_duplicate_key_is_reported_with_the_line_of_the_first_and_the_first_value_is_kept(
    events: EventSource | None,
) -> None:
    parsed = parse("a: 1\nb: 2\na: 3\n", events=events)
    issue = only_issue(parsed)
    assert issue == Issue(2, 0, "duplicate key 'a' (first at line 1)", ("a",))
    document = parsed.documents[0]
    assert document.data == {"a": 1, "b": 2}
    assert document.marks[("a",)] == (0, 0)
    assert document.complete  # the rest of the document is still read and checked


def test_a_duplicate_nested_key_with_a_list_value_keeps_the_first_value(
    events: EventSource | None,
) -> None:
    parsed = parse("spec:\n  x: 1\n  x: [2, 3]\n  y: 4\n", events=events)
    assert only_issue(parsed) == Issue(2, 2, "duplicate key 'x' (first at line 2)", ("spec", "x"))
    assert parsed.documents[0].data == {"spec": {"x": 1, "y": 4}}


def test_keys_inside_a_dropped_duplicate_value_do_not_move_the_marks_of_real_keys(
    events: EventSource | None,
) -> None:
    parsed = parse("spec:\n  x: 1\n  y: 2\n  x:\n    y: 3\n", events=events)
    document = parsed.documents[0]
    assert document.data == {"spec": {"x": 1, "y": 2}}
    assert document.marks[("spec", "y")] == (2, 2)


@pytest.mark.parametrize(
    ("value", "column", "loc"),
    [
        ("\n    y: !foo 1", 7, ("spec", "x", "y")),
        (" [!foo 1]", 6, ("spec", "x", 0)),
    ],
)
def test_an_issue_inside_a_dropped_duplicate_value_is_placed_under_its_key(
    events: EventSource | None, value: str, column: int, loc: tuple[Any, ...]
) -> None:
    parsed = parse(f"spec:\n  x: 1\n  x:{value}\n", events=events)
    duplicate, tag = parsed.documents[0].issues
    assert duplicate == Issue(2, 2, "duplicate key 'x' (first at line 2)", ("spec", "x"))
    assert (tag.column, tag.message) == (column, "unsupported tag !foo")
    # Named by the key it repeats, though kept apart from the real key's positions.
    assert tuple(str(part) if isinstance(part, str) else part for part in tag.loc) == loc
    assert field_text(tag.loc) == field_text(loc)
    assert tag.loc != loc


# --- anchors and aliases --------------------------------------------------------------------


def test_anchors_and_aliases_repeat_a_value(events: EventSource | None) -> None:
    text = "host: &h {role: host, state: s1}\nsame: *h\nword: &w hello\nagain: *w\n"
    document = only_document(parse(text, events=events))
    assert document.data == {
        "host": {"role": "host", "state": "s1"},
        "same": {"role": "host", "state": "s1"},
        "word": "hello",
        "again": "hello",
    }


def test_an_alias_to_an_unknown_anchor_is_refused(events: EventSource | None) -> None:
    parsed = parse("a: 1\nb: *nowhere\n", events=events)
    assert only_issue(parsed) == Issue(
        1, 3, "alias *nowhere names no anchor before it in this document", ("b",)
    )
    assert not parsed.documents[0].complete


def test_anchors_do_not_reach_into_the_next_document(events: EventSource | None) -> None:
    parsed = parse("a: &x 1\n---\nb: *x\n", events=events)
    assert parsed.error is None
    assert parsed.documents[0].data == {"a": 1}
    assert parsed.documents[1].issues == [
        Issue(2, 3, "alias *x names no anchor before it in this document", ("b",))
    ]


@pytest.mark.parametrize("text", ["a: &x {b: *x}\n", "a: &x [1, *x]\n"])
def test_an_alias_to_a_collection_still_open_is_refused(
    events: EventSource | None, text: str
) -> None:
    parsed = parse(text, events=events)
    issue = only_issue(parsed)
    assert (issue.line, issue.column) == (0, 10)
    assert issue.loc in (("a", "b"), ("a", 1))
    assert "*x" in issue.message
    assert not parsed.documents[0].complete


@pytest.mark.parametrize("text", ["a: &x {b: *x}\n", "a: &x [1, *x]\n", "a: &x\n  b: [*x]\n"])
def test_a_recursive_alias_is_called_recursive_not_unknown(
    events: EventSource | None, text: str
) -> None:
    issue = only_issue(parse(text, events=events))
    assert issue.message == "alias *x is inside the value it names (a recursive value)"


def test_an_alias_cannot_be_a_key(events: EventSource | None) -> None:
    parsed = parse("a: &x k\n*x : 1\n", events=events)
    assert only_issue(parsed) == Issue(1, 0, "an alias cannot be a key", ())


def test_an_alias_bomb_is_refused_before_anything_expands_it(events: EventSource | None) -> None:
    text = billion_laughs()
    assert len(text) < 400
    started = time.perf_counter()
    parsed = parse(text, events=events)
    elapsed = time.perf_counter() - started
    issue = only_issue(parsed)
    assert issue.message == (
        "document is too large: over 100,000 values once aliases are expanded (an alias bomb?)"
    )
    # `a` to `e` and their keys are 74,737 values; the first alias in `f` adds 66,430.
    assert (issue.line, issue.column, issue.loc) == (5, 7, ("f", 0))
    assert not parsed.documents[0].complete
    assert elapsed < 1.0


def test_aliases_count_the_size_of_what_they_repeat_against_the_node_limit(
    events: EventSource | None,
) -> None:
    limits = Limits(max_document_nodes=12)
    text = "a: &a [1, 2, 3]\nb: [*a, *a]\n"  # 6 values, then 2, then 4 per alias
    issue = only_issue(parse(text, limits=limits, events=events))
    assert (issue.line, issue.column, issue.loc) == (1, 8, ("b", 1))
    assert "over 12 values once aliases are expanded" in issue.message


# --- limits ---------------------------------------------------------------------------------


def test_nesting_up_to_the_depth_limit_is_read(events: EventSource | None) -> None:
    document = only_document(parse("a: [[1]]\n", limits=Limits(max_depth=3), events=events))
    assert document.data == {"a": [[1]]}


def too_deep(levels: int) -> str:
    return f"nested too deeply (more than {levels} levels); the rest of this file was not read"


def test_nesting_deeper_than_the_limit_is_refused_where_it_goes_too_deep(
    events: EventSource | None,
) -> None:
    parsed = parse("a: [[[1]]]\nb: 2\n", limits=Limits(max_depth=3), events=events)
    assert only_issue(parsed) == Issue(0, 5, too_deep(3), ("a", 0, 0))
    assert not parsed.documents[0].complete


def test_block_nesting_counts_against_the_depth_limit_too(events: EventSource | None) -> None:
    text = "a:\n  b:\n    c:\n      d: 1\n"
    issue = only_issue(parse(text, limits=Limits(max_depth=3), events=events))
    assert issue == Issue(3, 6, too_deep(3), ("a", "b", "c"))


def test_nesting_too_deep_stops_the_reading_of_the_whole_text(events: EventSource | None) -> None:
    # Both parsers slow down with every level of nesting they scan: after the depth limit,
    # nothing more of the text is read, not even the documents after it (nor the syntax
    # error in the last one).
    text = "a: 1\n---\nb: [[[1]]]\nc: !foo 2\n---\nd: 3\n---\ne: !foo 4\n---\nf: [\n"
    parsed = parse(text, limits=Limits(max_depth=3), events=events)
    assert parsed.error is None
    first, stopped = parsed.documents
    assert (first.data, first.issues, first.complete) == ({"a": 1}, [], True)
    assert stopped.data == {"b": [[]]}
    assert stopped.issues == [Issue(2, 5, too_deep(3), ("b", 0, 0))]
    assert not stopped.complete


def test_deep_nesting_is_counted_not_recursed_into(events: EventSource | None) -> None:
    depth = 5 * sys.getrecursionlimit()  # far deeper than any recursive reader survives
    parsed = parse("- " * depth + "x\n", events=events)
    issue = only_issue(parsed)
    assert issue.message == too_deep(32)
    assert issue.loc == (0,) * 32
    assert (issue.line, issue.column) == (0, 64)


def test_a_value_as_long_as_the_limit_is_read(events: EventSource | None) -> None:
    document = only_document(parse("a: abcde\n", limits=Limits(max_scalar_chars=5), events=events))
    assert document.data == {"a": "abcde"}


@pytest.mark.parametrize(
    ("text", "column", "loc"),
    [
        ("a: abcdef\n", 3, ("a",)),
        ("a: 'abc\n  def'\n", 3, ("a",)),  # 7 characters once folded
        ("abcdef: 1\n", 0, ()),  # keys are values too
        ("a: [x, abcdef]\n", 7, ("a", 1)),
    ],
)
def test_a_value_longer_than_the_limit_is_refused(
    events: EventSource | None, text: str, column: int, loc: tuple[Any, ...]
) -> None:
    issue = only_issue(parse(text, limits=Limits(max_scalar_chars=5), events=events))
    assert (issue.line, issue.column, issue.loc) == (0, column, loc)
    assert issue.message.startswith("value is too long: ")
    assert issue.message.endswith(" characters (the limit is 5)")


def test_a_document_of_exactly_the_node_limit_is_read(events: EventSource | None) -> None:
    limits = Limits(max_document_nodes=5)
    document = only_document(parse("[1, 2, 3, 4]\n", limits=limits, events=events))
    assert document.data == [1, 2, 3, 4]


def test_a_document_over_the_node_limit_is_refused_at_the_value_that_goes_over(
    events: EventSource | None,
) -> None:
    parsed = parse("[1, 2, 3, 4]\n", limits=Limits(max_document_nodes=4), events=events)
    issue = only_issue(parsed)
    assert (issue.line, issue.column, issue.loc) == (0, 10, (3,))
    assert "over 4 values" in issue.message


def test_the_node_limit_is_per_document(events: EventSource | None) -> None:
    limits = Limits(max_document_nodes=3)
    parsed = parse("[1, 2]\n---\n[3, 4]\n", limits=limits, events=events)
    assert parsed.error is None
    assert [document.data for document in parsed.documents] == [[1, 2], [3, 4]]
    assert all(document.issues == [] for document in parsed.documents)


# --- what is refused ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("!foo 1", "unsupported tag !foo"),
        ("!!binary aGk=", "unsupported tag !!binary"),
        ("!!timestamp 2026-12-01", "unsupported tag !!timestamp"),
        ("!!set {x}", "unsupported tag !!set"),
        ("!!omap [a: 1]", "unsupported tag !!omap"),
        ("!!python/object:os.system {}", "unsupported tag !!python/object:os.system"),
        ("!!python/name:os.system", "unsupported tag !!python/name:os.system"),
        ("!<tag:example.org,2026:x> 1", "unsupported tag tag:example.org,2026:x"),
        ("!!int x", "cannot read 'x' as !!int"),
        ("!!bool yes", "cannot read 'yes' as !!bool"),
        ("!!map [1]", "unsupported tag !!map"),
    ],
)
def test_tags_other_than_the_core_schema_are_refused(
    events: EventSource | None, value: str, message: str
) -> None:
    parsed = parse(f"ok: 1\na: {value}\n", events=events)
    assert only_issue(parsed) == Issue(1, 3, message, ("a",))
    assert not parsed.documents[0].complete


def test_merge_keys_are_refused(events: EventSource | None) -> None:
    text = "base: &b {role: host}\nguest:\n  <<: *b\n  name: x\n"
    parsed = parse(text, events=events)
    assert only_issue(parsed) == Issue(
        2, 2, "merge keys (<<) are not supported: write the fields out", ("guest", "<<")
    )
    assert not parsed.documents[0].complete


def test_a_quoted_double_angle_key_is_an_ordinary_key(events: EventSource | None) -> None:
    assert only_document(parse("'<<': 1\n", events=events)).data == {"<<": 1}


@pytest.mark.parametrize(
    ("text", "line", "column"),
    [
        ("? [a, b]\n: 1\n", 0, 2),
        ("? {a: 1}\n: 1\n", 0, 2),
        ("{[a]: 1}\n", 0, 1),
        ("spec:\n  ? - a\n  : 1\n", 1, 4),
    ],
)
def test_complex_keys_are_refused(
    events: EventSource | None, text: str, line: int, column: int
) -> None:
    parsed = parse(text, events=events)
    issue = only_issue(parsed)
    assert (issue.line, issue.column) == (line, column)
    assert issue.message == "a key must be plain text, not a list or mapping"
    assert not parsed.documents[0].complete


# --- documents and syntax errors ------------------------------------------------------------


def test_a_syntax_error_ends_the_text_but_keeps_the_documents_before_it(
    events: EventSource | None,
) -> None:
    parsed = parse("a: 1\n---\nb: [\n---\nc: 3\n", events=events)
    assert [document.data for document in parsed.documents] == [{"a": 1}]
    assert parsed.error is not None
    assert (parsed.error.line, parsed.error.column) == (3, 0)
    assert parsed.error.message.startswith("expected the node content")
    assert parsed.error.loc == ()


def test_a_syntax_error_says_what_was_open_and_where_it_started(
    events: EventSource | None,
) -> None:
    parsed = parse("a: 1\nb: [1, 2\nc: 3\n", events=events)
    assert parsed.error is not None
    assert parsed.error.line == 2
    assert "',' or ']'" in parsed.error.message
    assert parsed.error.message.endswith("(while parsing a flow sequence that starts at line 2)")


def test_an_unclosed_bracket_at_the_end_names_no_line_after_the_error(
    events: EventSource | None,
) -> None:
    # The parsers' context for this error ("a flow node that starts at line 3") is where
    # the text ends, which says nothing: it is left out rather than point past the error.
    parsed = parse("a: 1\nb: [1,\n", events=events)
    assert parsed.error is not None
    assert (parsed.error.line, parsed.error.column) == (2, 0)
    assert "line 3" not in parsed.error.message


def test_an_error_at_the_end_of_a_text_without_a_final_newline_is_on_its_last_line(
    events: EventSource | None,
) -> None:
    parsed = parse("a: [1, 2", events=events)
    assert parsed.error is not None
    assert (parsed.error.line, parsed.error.column) == (0, 8)


def test_documents_are_read_in_order_each_with_where_it_starts(events: EventSource | None) -> None:
    parsed = parse("a: 1\n---\nb: 2\n...\n---\nc: 3\n", events=events)
    assert parsed.error is None
    assert [document.data for document in parsed.documents] == [{"a": 1}, {"b": 2}, {"c": 3}]
    assert [(document.line, document.column) for document in parsed.documents] == [
        (0, 0),
        (1, 0),
        (4, 0),
    ]


def test_an_issue_stops_its_own_document_but_not_the_next(events: EventSource | None) -> None:
    parsed = parse("a: !foo 1\nb: 2\n---\nc: 3\n", events=events)
    first, second = parsed.documents
    assert first.data == {}
    assert not first.complete
    assert second.data == {"c": 3}
    assert second.complete
    assert second.issues == []


@pytest.mark.parametrize(
    ("text", "data"),
    [
        ("", []),
        ("# only a comment\n", []),
        ("---\n", [None]),
        ("---\n---\na: 1\n---\n", [None, {"a": 1}, None]),
        ("a: 1\n---\n", [{"a": 1}, None]),
    ],
)
def test_empty_documents_have_no_data(
    events: EventSource | None, text: str, data: list[Any]
) -> None:
    parsed = parse(text, events=events)
    assert parsed.error is None
    assert [document.data for document in parsed.documents] == data
    assert all(document.issues == [] for document in parsed.documents)


def test_a_byte_order_mark_at_the_start_is_not_part_of_the_first_key(
    events: EventSource | None,
) -> None:
    assert only_document(parse("\ufeffkind: Session\n", events=events)).data == {"kind": "Session"}


# --- the two event sources read the same YAML -----------------------------------------------

# Valid YAML 1.2, what it means, and which sources misread it today (and why).
YAML_1_2_CASES: list[tuple[str, str, Any, dict[str, str]]] = [
    # `:` inside a plain scalar in a flow collection: what people write for times and URLs
    # in `{...}`. libyaml refuses it with a syntax error; `parse` then re-reads the text
    # with the pure parser, as it does after any libyaml syntax error.
    (
        "colon-in-flow-time",
        "labels: {at: 2026-12-01T09:00:00Z}\n",
        {"labels": {"at": "2026-12-01T09:00:00Z"}},
        {},
    ),
    (
        "colon-in-flow-url",
        "p: [{picture: https://example.org/a.png}]\n",
        {"p": [{"picture": "https://example.org/a.png"}]},
        {},
    ),
    # U+0085 and U+2029 are line breaks in YAML 1.1, ordinary characters in YAML 1.2:
    # libyaml breaks the line (a syntax error follows, so the pure parser re-reads U+2029),
    # and the pure parser folds NEL to " ".
    (
        "ps-in-plain-scalar",
        "a: x\u2029y\n",
        {"a": "x\u2029y"},
        {},
    ),
    # '?' inside a plain scalar, and ':' as its first character, are YAML 1.2 in flow style
    # too (spec example 7.10 has [ ::vector ]). libyaml refuses both; the pure parser's
    # re-read accepts them.
    ("question-mark-in-flow", "a: {q: Really?}\n", {"a": {"q": "Really?"}}, {}),
    ("colon-first-in-flow", "a: [::vector]\n", {"a": ["::vector"]}, {}),
]


def yaml_1_2_params() -> list[Any]:
    params = []
    for case, text, data, misread_by in YAML_1_2_CASES:
        for source, events in (("c", None), ("python", python_events)):
            marks = []
            if source in misread_by:
                marks = [pytest.mark.xfail(strict=True, reason=misread_by[source])]
            params.append(pytest.param(events, text, data, id=f"{source}-{case}", marks=marks))
    return params


@pytest.mark.parametrize(("events", "text", "data"), yaml_1_2_params())
def test_both_event_sources_read_valid_yaml_1_2_the_same(
    events: EventSource | None, text: str, data: Any
) -> None:
    parsed = parse(text, events=events)
    assert parsed.error is None, parsed.error
    assert [document.data for document in parsed.documents] == [data]


def test_a_flow_colon_is_read_with_the_marks_of_the_pure_parser(
    events: EventSource | None,
) -> None:
    # libyaml stops at "found unexpected ':'"; the whole text is read again by the pure
    # parser, documents before the ':' included, with the same marks and issues.
    text = "a: 1\n---\nemulator: {clock: 2026-12-04T09:00:00Z, x: !foo 1}\n"
    parsed = parse(text, events=events)
    assert parsed.error is None
    first, second = parsed.documents
    assert first.data == {"a": 1}
    assert second.data == {"emulator": {"clock": "2026-12-04T09:00:00Z"}}
    assert second.marks[("emulator", "clock")] == (2, 11)
    assert second.issues == [Issue(2, 43, "unsupported tag !foo", ("emulator", "x"))]


def test_a_flow_colon_in_a_text_too_large_to_read_twice_says_to_quote_it() -> None:
    # Over 1 MiB, the text is not read a second time: libyaml's error stands, with a hint.
    text = "a: {at: 09:00}\n# " + "x" * (1024 * 1024) + "\n"
    parsed = parse(text)
    assert parsed.error is not None
    assert (parsed.error.line, parsed.error.column) == (0, 10)
    assert parsed.error.message.startswith("found unexpected ':'")
    assert parsed.error.message.endswith(" (inside { } or [ ], put a value holding ':' in quotes)")


def test_an_escaped_lone_surrogate_is_refused(events: EventSource | None) -> None:
    parsed = parse('ok: 1\nname: "a\\ud800"\n', events=events)
    issues = [issue for document in parsed.documents for issue in document.issues]
    if parsed.error is not None:
        issues.append(parsed.error)
    assert [issue.line for issue in issues] == [1]
    assert "escape" in issues[0].message or "surrogate" in issues[0].message


def test_known_differences_of_the_two_parsers_that_load_never_meets() -> None:
    # libyaml (YAML 1.1) counts U+2028 as a line break, and folds U+0085 differently from
    # the pure parser; `load()` refuses both characters before parsing (test_hostile.py).
    assert only_issue(parse("a: 'x\u2028y'\nb: !foo 1\n")).line == 2
    assert only_issue(parse("a: 'x\u2028y'\nb: !foo 1\n", events=python_events)).line == 1


def test_known_limits_of_the_parsers_are_syntax_errors_not_crashes() -> None:
    # The pure parser refuses a tab after ':' (libyaml reads it), and both refuse a plain
    # flow key starting with ':' (YAML 1.2 allows it). Rare, and reported as syntax errors.
    assert parse("a:\tb\n").documents[0].data == {"a": "b"}
    assert parse("a:\tb\n", events=python_events).error is not None
    assert parse("{:0: x}\n").error is not None
    assert parse("{:0: x}\n", events=python_events).error is not None


# --- cost -----------------------------------------------------------------------------------


def finishes_within(seconds: float, code: str) -> bool:
    """Whether `code` runs to its end in a fresh interpreter within `seconds`."""
    try:
        subprocess.run([sys.executable, "-c", code], check=True, timeout=seconds)
    except subprocess.TimeoutExpired:
        return False
    return True


@pytest.mark.parametrize(("opening", "column"), [("[", 32), ("{a: ", 128)])
def test_deep_flow_nesting_is_refused_quickly_by_the_python_source_too(
    opening: str, column: int
) -> None:
    # The pure parser is quadratic in flow depth: the text is not read past the limit.
    code = (
        "from reconciler.manifests.composer import parse, python_events\n"
        f"parsed = parse({opening!r} * 100_000, events=python_events)\n"
        "[document] = parsed.documents\n"
        "[issue] = document.issues\n"
        f"assert (issue.line, issue.column) == (0, {column}), issue\n"
        "assert issue.message.startswith('nested too deeply (more than 32 levels)')\n"
    )
    assert finishes_within(3.0, code)
