"""A step's `if:` as GitHub evaluates it, for the forms the workflows use: comparisons of
`steps.X.outputs.Y` with a quoted string (`==`, `!=`), joined by `&&`, `||` and `!`,
with brackets, and the status functions `success()`, `failure()`, `always()` and
`cancelled()`.

GitHub's rules that matter here: a condition with no status function is read as
`success() && (condition)`, so a step whose condition names no status function is
skipped after an earlier step failed; `==` between strings ignores case; an output that
was never set is the empty string. Anything else fails loudly, so a workflow cannot gain
a condition the tests silently misread.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

_TOKEN = re.compile(
    r"\s*(?:(?P<op>&&|\|\||==|!=|!|\(|\))"
    r"|(?P<string>'(?:[^']|'')*')"
    r"|(?P<call>(?:success|failure|always|cancelled)\(\))"
    r"|(?P<output>steps\.[\w-]+\.outputs\.[\w-]+))"
)
_WRAPPED = re.compile(r"\s*\$\{\{(?P<inner>.*)\}\}\s*", re.DOTALL)
_STATUS_CALLS = ("success()", "failure()", "always()", "cancelled()")


@dataclass(frozen=True)
class JobStatus:
    """What the status functions see: whether an earlier step of the job failed (the
    stand-in runner never cancels a job)."""

    failed: bool

    def call(self, name: str) -> bool:
        answers = {
            "success()": not self.failed,
            "failure()": self.failed,
            "always()": True,
            "cancelled()": False,
        }
        return answers[name]


def evaluate(condition: str, *, status: JobStatus, output: Callable[[str], str]) -> bool:
    """Whether a step with `if: condition` runs; `output("steps.X.outputs.Y")` gives an
    output's value."""
    text = _unwrapped(condition)
    parser = _Parser(_tokens(text), status=status, output=output, source=condition)
    result = parser.expression()
    parser.end()
    if not any(call in text for call in _STATUS_CALLS):
        return status.call("success()") and _truthy(result)
    return _truthy(result)


def _unwrapped(condition: str) -> str:
    wrapped = _WRAPPED.fullmatch(condition)
    return wrapped["inner"] if wrapped else condition


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    while text[position:].strip():
        match = _TOKEN.match(text, position)
        assert match, f"the stand-in runner cannot evaluate this `if:`: {text!r} at {position}"
        kind = match.lastgroup
        assert kind is not None
        tokens.append((kind, match[kind]))
        position = match.end()
    return tokens


def _truthy(value: bool | str) -> bool:
    return value if isinstance(value, bool) else value != ""


class _Parser:
    """Recursive descent, by GitHub's precedence: or := and ('||' and)*;
    and := compare ('&&' compare)*; compare := not (('==' | '!=') not)?;
    not := '!' not | operand."""

    def __init__(
        self,
        tokens: list[tuple[str, str]],
        *,
        status: JobStatus,
        output: Callable[[str], str],
        source: str,
    ) -> None:
        self._tokens = tokens
        self._status = status
        self._output = output
        self._source = source

    def end(self) -> None:
        assert not self._tokens, f"cannot evaluate `if: {self._source}`: {self._tokens[0][1]!r}"

    def expression(self) -> bool | str:
        value = self._and()
        while self._take("||"):
            right = self._and()
            value = value if _truthy(value) else right
        return value

    def _and(self) -> bool | str:
        value = self._compare()
        while self._take("&&"):
            right = self._compare()
            value = right if _truthy(value) else value
        return value

    def _compare(self) -> bool | str:
        left = self._not()
        for operator in ("==", "!="):
            if self._take(operator):
                right = self._not()
                if not (isinstance(left, str) and isinstance(right, str)):
                    raise AssertionError(
                        f"cannot evaluate `if: {self._source}`: only strings are compared here"
                    )
                equal = left.casefold() == right.casefold()  # GitHub ignores case
                return equal if operator == "==" else not equal
        return left

    def _not(self) -> bool | str:
        if self._take("!"):
            return not _truthy(self._not())
        return self._operand()

    def _operand(self) -> bool | str:
        assert self._tokens, f"cannot evaluate `if: {self._source}`: it ends too soon"
        kind, text = self._tokens.pop(0)
        if kind == "string":
            return text[1:-1].replace("''", "'")
        if kind == "call":
            return self._status.call(text)
        if kind == "output":
            return self._output(text)
        assert text == "(", f"cannot evaluate `if: {self._source}`: unexpected {text!r}"
        value = self.expression()
        assert self._take(")"), f"cannot evaluate `if: {self._source}`: a ( is not closed"
        return value

    def _take(self, operator: str) -> bool:
        if self._tokens and self._tokens[0] == ("op", operator):
            self._tokens.pop(0)
            return True
        return False
