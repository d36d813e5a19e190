"""Join capabilities: whoever holds a participant's id or entry URL can join the
consultation as that participant, so no output, log, error, plan file, inventory or
journal may show either, nor the URL's path (it holds the id).

One check for every test that says so. (Not `tests/secrets.py`: that name would shadow
the standard library's `secrets` wherever `tests/` itself is on the path.)
"""

from __future__ import annotations

from collections.abc import Iterable

import httpx

from reconciler.clients import LiveParticipant, LiveSession


def capabilities(holder: LiveSession | Iterable[LiveParticipant]) -> list[str]:
    """The participant ids and entry URLs of a session's participants (or of these)."""
    participants = holder.participants if isinstance(holder, LiveSession) else holder
    return [
        value.get_secret_value()
        for participant in participants
        for value in (participant.participant_id, participant.entry_url)
        if value is not None
    ]


def assert_no_capability(
    holder: LiveSession | Iterable[LiveParticipant], *texts: str | bytes, count: int
) -> None:
    """Assert that no participant id or entry URL of `holder`, nor the URL's path, is in
    any of `texts`; there must be `count` of them (a missing URL proves nothing)."""
    secrets = capabilities(holder)
    assert len(secrets) == count, f"{len(secrets)} participant ids and entry URLs, not {count}"
    for secret in secrets:
        for shown in (secret, httpx.URL(secret).path):
            for index, text in enumerate(texts):
                found = shown.encode() in text if isinstance(text, bytes) else shown in text
                assert not found, f"a participant's capability shows in texts[{index}]"
