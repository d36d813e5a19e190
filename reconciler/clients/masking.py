"""Keep join capabilities and credentials out of every message and log line (DESIGN.md §9).

Paths are masked where they are built; this is the second line, applied to anything that
came from elsewhere (a server's error message, an exception's text) before it is shown.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

MASK = "***"
_PATTERNS = (
    # A participant's own path: its id is its join link.
    (re.compile(r"(/participants/)[^/?#\s\"']+"), rf"\g<1>{MASK}"),
    # An entry URL (…/session/<participant id>) anywhere, absolute or not.
    (re.compile(r"(/session/)[^/?#\s\"']+"), rf"\g<1>{MASK}"),
    # Bearer and Basic credentials, and anything shaped like a JWT.
    (re.compile(r"(?i)\b(bearer|basic)\s+[\w.~+/=-]+"), rf"\g<1> {MASK}"),
    (re.compile(r"\beyJ[\w-]*\.[\w-]+\.[\w-]*"), MASK),
    # Signed download links carry their credential in the query.
    (re.compile(r"(?i)(signature=)[^&\s\"']+"), rf"\g<1>{MASK}"),
    (
        re.compile(r"(?i)((?:access|refresh)_token|client_secret|password)=[^&\s\"']+"),
        rf"\1={MASK}",
    ),
)
LONGEST_MESSAGE = 300
# Shorter "secrets" (test fixtures, mostly) would mask every word they occur in.
SHORTEST_SECRET = 6


def mask(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with known secrets and anything shaped like a credential replaced by ***."""
    for secret in sorted(secrets, key=len, reverse=True):
        if len(secret) >= SHORTEST_SECRET:
            text = text.replace(secret, MASK)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def shorten(text: str) -> str:
    """One line of at most LONGEST_MESSAGE characters, for a server's message."""
    line = " ".join(text.split())
    return line if len(line) <= LONGEST_MESSAGE else line[: LONGEST_MESSAGE - 1] + "…"


class MaskingFilter(logging.Filter):
    """Masks credential-shaped text in every record of the logger it is attached to."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def guard_logger(name: str) -> None:
    """Attach a MaskingFilter to a logger, once."""
    logger = logging.getLogger(name)
    if not any(isinstance(f, MaskingFilter) for f in logger.filters):
        logger.addFilter(MaskingFilter())
