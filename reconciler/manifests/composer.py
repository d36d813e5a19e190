"""YAML text to documents: plain data, a position for every part, hostile input refused.

ruamel.yaml's round-trip loader keeps positions but is several times slower than a
C parser, and its safe loader is fast but forgets them. So this module reads
ruamel.yaml's *event stream* — produced by its C parser (`ruamel.yaml.clib`, libyaml)
when installed, by its pure-Python parser otherwise — and builds the data itself in
one iterative pass. That gives, in one place:

- a `(line, column)` for every mapping key and sequence item, so any later error can
  point at `file:line:col`;
- scalars typed by the YAML 1.2 core schema (`no` and `on` stay text, times stay text
  for the models to parse, `true`/`false`/numbers/`null` are typed);
- duplicate keys as errors, not silently overwritten;
- budgets instead of crashes: nesting depth is counted, not recursed into, so deep
  nesting cannot overflow a stack; an alias counts the full size of what it repeats,
  so an alias bomb is refused before anything walks it; huge scalars are refused.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Final

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import (
    AliasEvent,
    DocumentEndEvent,
    DocumentStartEvent,
    Event,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
)

from reconciler.manifests.documents import (
    DEFAULT_LIMITS,
    Document,
    Issue,
    Limits,
    Loc,
    Parsed,
    position_of,
)
from reconciler.manifests.scalars import MAP, NUMBER_START, SEQ, WORDS, number, short_tag, tagged

# The C parser exists only when ruamel.yaml.clib is installed (a dependency of ours, but
# one without a wheel on some platforms); the pure-Python parser reads the same YAML.
CParser: Any = getattr(importlib.import_module("ruamel.yaml.cyaml"), "CParser", None)


class _StopDocumentError(Exception):
    """An issue after which the rest of the document cannot be trusted."""

    def __init__(self, issue: Issue) -> None:
        self.issue = issue


class _StopFileError(_StopDocumentError):
    """An issue after which reading on would only cost time: deep nesting, where both
    parsers slow down with every level they scan."""


EventSource = Callable[[str], Iterator[Event]]


def c_events(text: str) -> Iterator[Event]:
    """Events from libyaml through ruamel.yaml.clib (None after the stream's end)."""
    assert CParser is not None
    return iter(CParser(text).get_event, None)  # a C-level iterator: no generator frames


def python_events(text: str) -> Iterator[Event]:
    """Events from ruamel.yaml's pure-Python parser (slower; used without the C library)."""
    for event in YAML(typ="safe", pure=True).parse(text):
        if event.__class__ is ScalarEvent and _SURROGATE.search(event.value):
            # An escape such as "\ud800" names half a character, which no file can hold.
            raise MarkedYAMLError(
                problem="an escaped surrogate (\\ud800-\\udfff) is not a character",
                problem_mark=event.start_mark,
            )
        yield event


_SURROGATE = re.compile("[\ud800-\udfff]")
_RETRY_LIMIT: Final = 1024 * 1024
"""A text this long or shorter is re-read by the pure-Python parser after a libyaml syntax
error (2-3 s at most here, where libyaml takes 0.1 s); longer ones keep libyaml's verdict."""
_FLOW_COLON_HINT: Final = " (inside { } or [ ], put a value holding ':' in quotes)"


default_events: EventSource = c_events if CParser is not None else python_events


def parse(
    text: str, *, limits: Limits = DEFAULT_LIMITS, events: EventSource | None = None
) -> Parsed:
    """Read every document of `text`; a syntax error ends the text but keeps what came before."""
    source = events or default_events
    parsed = _parse_with(source, text, limits)
    error = parsed.error
    if error is not None and error.syntax and source is c_events:
        # libyaml reads YAML 1.1, more strictly than YAML 1.2 in flow style: it refuses
        # {clock: 09:00Z} and {q: Really?}. The pure-Python parser has the last word.
        if len(text) <= _RETRY_LIMIT:
            return _parse_with(python_events, text, limits)
        if error.message.startswith("found unexpected ':'"):
            parsed.error = Issue(error.line, error.column, error.message + _FLOW_COLON_HINT)
    return parsed


def _parse_with(source: EventSource, text: str, limits: Limits) -> Parsed:
    builder = _Builder(limits)
    try:
        builder.run(source(text))
    except MarkedYAMLError as error:
        return Parsed(builder.documents, _syntax_issue(error, text))
    except YAMLError as error:
        return Parsed(builder.documents, _reader_issue(error, text, source is c_events))
    return Parsed(builder.documents)


def _syntax_issue(error: MarkedYAMLError, text: str) -> Issue:
    mark = error.problem_mark or error.context_mark
    line, column = _on_a_real_line(text, *((mark.line, mark.column) if mark else (0, 0)))
    message = str(error.problem or error.context or "not valid YAML")
    context = error.context_mark
    if error.context and context is not None and error.problem and context.line < line:
        message += f" ({error.context} that starts at line {context.line + 1})"
    return Issue(line, column, message, syntax=True)


def _on_a_real_line(text: str, line: int, column: int) -> tuple[int, int]:
    """The end of a text without a final newline is on its last line, not the one after."""
    last = text.count("\n")  # an editor shows a line after a final newline, too
    if line <= last:
        return line, column
    return last, len(text) - (text.rfind("\n") + 1)


def _reader_issue(error: YAMLError, text: str, in_bytes: bool) -> Issue:
    position = getattr(error, "position", None)
    character = getattr(error, "character", None)
    if isinstance(position, int) and in_bytes:  # libyaml counts UTF-8 bytes
        position = len(text.encode("utf-8")[:position].decode("utf-8", errors="ignore"))
    if not (isinstance(position, int) and 0 <= position <= len(text)):
        position = 0
    line, column = position_of(text, position)
    if isinstance(character, int):
        return Issue(line, column, f"character U+{character:04X} is not allowed in YAML")
    return Issue(line, column, "not readable as YAML text")


class _Frame:
    """An open mapping or sequence: where it is, and (for a mapping) the key being read."""

    __slots__ = ("anchor", "container", "is_map", "key", "loc", "opened_at")

    def __init__(self, container: Any, loc: Loc, opened_at: int, anchor: str | None) -> None:
        self.container = container
        self.is_map = container.__class__ is dict
        self.loc = loc
        self.key: str | None = None
        self.opened_at = opened_at
        self.anchor = anchor


class _Builder:
    """Turns events into documents: one pass, a stack of frames instead of recursion."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.documents: list[Document] = []

    def run(self, events: Iterable[Any]) -> None:
        """Build every document. The hot loop of loading: scalars take the inline path."""
        max_nodes, max_chars = self.limits.max_document_nodes, self.limits.max_scalar_chars
        document: Document | None = None
        marks: dict[Loc, tuple[int, int]] = {}
        anchors: dict[str, tuple[Any, int]] = {}
        stack: list[_Frame | None] = []
        top: _Frame | None = None
        nodes = 0
        skipping = True  # until a document starts
        for event in events:
            cls = event.__class__
            if skipping and cls is not DocumentStartEvent and cls is not DocumentEndEvent:
                continue
            try:
                if cls is ScalarEvent:
                    nodes += 1
                    text: str = event.value
                    if nodes > max_nodes or len(text) > max_chars:
                        raise _StopDocumentError(self._oversize(event, nodes, top))
                    if top is not None and top.is_map and top.key is None:
                        if text in top.container or text == "<<":
                            top.key = self._odd_key(event, top, document)
                        else:
                            top.key = text
                            mark = event.start_mark
                            marks[(*top.loc, text)] = (mark.line, mark.column)
                        continue
                    if event.implicit[0]:  # plain: typed by the YAML 1.2 core schema
                        if text in WORDS:
                            value = WORDS[text]
                        elif text[0] in NUMBER_START:
                            typed = number(text)
                            value = text if typed is None else typed
                        else:
                            value = text
                    else:
                        value = self._tagged_scalar(event, top)
                    if value is not text and document is not None:
                        # Typed (a number, true, null): keep how it was written, for
                        # messages such as "write it in quotes: state: \"02134\"".
                        document.written[_loc_here(top)] = text
                    if top is None:
                        assert document is not None
                        document.data = value
                    elif top.is_map:
                        if top.key.__class__ is not _DroppedKey:
                            top.container[top.key] = value
                        top.key = None
                    else:
                        mark = event.start_mark
                        marks[(*top.loc, len(top.container))] = (mark.line, mark.column)
                        top.container.append(value)
                    if event.anchor:
                        anchors[event.anchor] = (value, 1)
                elif cls is MappingStartEvent or cls is SequenceStartEvent:
                    nodes += 1
                    container: Any = {} if cls is MappingStartEvent else []
                    self._check_collection(event, container, top, len(stack), nodes)
                    loc = self._place(event, container, top, document, marks)
                    stack.append(top)
                    top = _Frame(container, loc, nodes, event.anchor)
                    if event.anchor:
                        anchors.pop(event.anchor, None)  # rebound when closed, never recursive
                elif cls is MappingEndEvent or cls is SequenceEndEvent:
                    assert top is not None
                    if top.anchor:
                        anchors[top.anchor] = (top.container, nodes - top.opened_at + 1)
                    top = stack.pop()
                elif cls is AliasEvent:
                    value, size = self._resolve_alias(event, anchors, top, stack)
                    nodes += size
                    if nodes > max_nodes:
                        raise _StopDocumentError(self._oversize(event, nodes, top))
                    self._place(event, value, top, document, marks)
                elif cls is DocumentStartEvent:
                    mark = event.start_mark
                    marks, anchors, stack, top, nodes = {}, {}, [], None, 0
                    document = Document(data=None, line=mark.line, column=mark.column, marks=marks)
                    skipping = False
                elif cls is DocumentEndEvent and document is not None:
                    self.documents.append(document)
                    document, skipping = None, True
            except _StopDocumentError as stop:
                assert document is not None
                document.issues.append(stop.issue)
                document.complete = False
                skipping = True
                if isinstance(stop, _StopFileError):
                    self.documents.append(document)
                    return

    def _oversize(self, event: Any, nodes: int, top: _Frame | None) -> Issue:
        if nodes > self.limits.max_document_nodes:
            message = (
                f"document is too large: over {self.limits.max_document_nodes:,} values"
                " once aliases are expanded (an alias bomb?)"
            )
        else:
            message = (
                f"value is too long: {len(event.value):,} characters"
                f" (the limit is {self.limits.max_scalar_chars:,})"
            )
        return _issue(event, message, _loc_here(top))

    @staticmethod
    def _odd_key(event: Any, top: _Frame, document: Document | None) -> str:
        """A merge key (refused) or a duplicate key (reported; its value is dropped)."""
        text: str = event.value
        loc = (*top.loc, text)
        if text == "<<" and event.implicit[0]:
            raise _StopDocumentError(
                _issue(event, "merge keys (<<) are not supported: write the fields out", loc)
            )
        assert document is not None
        if text not in top.container:
            document.marks[loc] = (event.start_mark.line, event.start_mark.column)
            return text
        first = document.marks[loc][0] + 1
        document.issues.append(
            _issue(event, f"duplicate key {text!r} (first at line {first})", loc)
        )
        return _DroppedKey(text)

    def _tagged_scalar(self, event: Any, top: _Frame | None) -> Any:
        if event.tag is None:
            return event.value
        try:
            return tagged(event.tag, event.value)
        except ValueError as error:
            raise _StopDocumentError(_issue(event, str(error), _loc_here(top))) from None

    def _check_collection(
        self, event: Any, container: Any, top: _Frame | None, depth: int, nodes: int
    ) -> None:
        if top is not None and top.is_map and top.key is None:
            raise _StopDocumentError(
                _issue(event, "a key must be plain text, not a list or mapping", top.loc)
            )
        expected = MAP if container.__class__ is dict else SEQ
        if event.tag and event.tag not in (expected, "!"):
            raise _StopDocumentError(
                _issue(event, f"unsupported tag {short_tag(event.tag)}", _loc_here(top))
            )
        if depth >= self.limits.max_depth:
            raise _StopFileError(
                _issue(
                    event,
                    f"nested too deeply (more than {self.limits.max_depth} levels);"
                    " the rest of this file was not read",
                    _loc_here(top),
                )
            )
        if nodes > self.limits.max_document_nodes:
            raise _StopDocumentError(self._oversize(event, nodes, top))

    @staticmethod
    def _resolve_alias(
        event: Any,
        anchors: dict[str, tuple[Any, int]],
        top: _Frame | None,
        stack: list[_Frame | None],
    ) -> tuple[Any, int]:
        if top is not None and top.is_map and top.key is None:
            raise _StopDocumentError(_issue(event, "an alias cannot be a key", top.loc))
        found = anchors.get(event.anchor)
        if found is not None:
            return found
        if any(frame is not None and frame.anchor == event.anchor for frame in (*stack, top)):
            message = f"alias *{event.anchor} is inside the value it names (a recursive value)"
        else:
            message = f"alias *{event.anchor} names no anchor before it in this document"
        raise _StopDocumentError(_issue(event, message, _loc_here(top)))

    @staticmethod
    def _place(
        event: Any,
        value: Any,
        top: _Frame | None,
        document: Document | None,
        marks: dict[Loc, tuple[int, int]],
    ) -> Loc:
        """Put a value into the open collection, or make it the root; return its loc."""
        if top is None:
            assert document is not None
            document.data = value
            return ()
        if top.is_map:
            key, top.key = top.key, None
            if key is None or key.__class__ is _DroppedKey:
                return (*top.loc, key or "")  # read, then dropped
            top.container[key] = value
            return (*top.loc, key)
        loc = (*top.loc, len(top.container))
        marks[loc] = (event.start_mark.line, event.start_mark.column)
        top.container.append(value)
        return loc


def _issue(event: Any, message: str, loc: Loc) -> Issue:
    return Issue(event.start_mark.line, event.start_mark.column, message, loc)


def _loc_here(top: _Frame | None) -> Loc:
    """The loc of the value being read inside `top`."""
    if top is None:
        return ()
    if top.is_map:
        return top.loc if top.key is None else (*top.loc, top.key)
    return (*top.loc, len(top.container))


class _DroppedKey(str):
    """The key of a duplicate entry, whose value is read and then dropped.

    It reads as the key it repeats, but is equal only to itself: the positions and
    written forms recorded under it never land on the real key's.
    """

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        return self is other

    def __hash__(self) -> int:
        return id(self)
