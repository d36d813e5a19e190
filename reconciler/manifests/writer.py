"""Writing manifests: YAML text that the loader reads back as exactly what was meant.

`reconciler import --generate` writes manifests from live data, whose text may be
anything (`no`, `007`, `: #`, other scripts, control characters): a value the loader
would read as another type is quoted, and `read_back` proves the round trip.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.nodes import ScalarNode
from ruamel.yaml.representer import RoundTripRepresenter

from reconciler.errors import InputError
from reconciler.manifests.checks import session_problems
from reconciler.manifests.composer import parse
from reconciler.manifests.models import Session
from reconciler.manifests.scalars import NUMBER_START, STR, WORDS, number

_TIMES = ("start_time", "end_time")
_LINE_BREAKS = "\x85\u2028\u2029"


class _Time(str):
    """A time written plain (`2026-12-07T09:00:00+11:00`), as people write them."""

    __slots__ = ()


class _Representer(RoundTripRepresenter):
    def represent_str(self, data: Any) -> ScalarNode:
        """Text the loader would type otherwise (`no` is text, `007` a number, `` null)
        is quoted; the rest as ruamel.yaml sees fit."""
        text = str(data)
        if any(char in _LINE_BREAKS or not char.isprintable() for char in text):
            # Escaped (`\N`, `\L`, `\t`): the loader refuses a file that holds a line
            # break other than \n, or a control character, as it stands.
            return self.represent_scalar(STR, text, style='"')
        typed = text in WORDS or (text[:1] in NUMBER_START and number(text) is not None)
        return self.represent_scalar(STR, text, style="'" if typed else None)

    def represent_time(self, data: Any) -> ScalarNode:
        return self.represent_scalar("tag:yaml.org,2002:timestamp", str(data))


_Representer.add_representer(str, _Representer.represent_str)
_Representer.add_representer(_Time, _Representer.represent_time)


def manifest_text(document: Mapping[str, Any], *, comments: Sequence[str] = ()) -> str:
    """`document` as YAML, block style, keys in their order, after `# comments`."""
    yaml = YAML(typ="rt")
    yaml.Representer = _Representer
    yaml.default_flow_style = False
    yaml.allow_unicode = True
    yaml.width = 4096  # long values stay on one line
    yaml.indent(mapping=2, sequence=4, offset=2)
    stream = io.StringIO()
    yaml.dump(_timed(document), stream)
    return "".join(f"# {line}\n" for line in comments) + stream.getvalue()


def _timed(value: Any, key: str = "") -> Any:
    if isinstance(value, Mapping):
        return {name: _timed(item, name) for name, item in value.items()}
    if isinstance(value, list):
        return [_timed(item) for item in value]
    return _Time(value) if key in _TIMES and isinstance(value, str) else value


def read_back(text: str) -> Session:
    """The one Session manifest of `text`, read as the loader reads a file."""
    parsed = parse(text)
    documents = [document for document in parsed.documents if document.data is not None]
    issues = [issue.message for document in documents for issue in document.issues]
    if parsed.error is not None or issues or len(documents) != 1:
        raise InputError(f"the manifest written does not read back: {parsed.error or issues}")
    problems = list(session_problems("", documents[0]))
    if problems:
        raise InputError(f"the manifest written does not read back: {problems[0].message}")
    return Session.model_validate(documents[0].data)
