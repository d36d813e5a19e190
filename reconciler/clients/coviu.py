"""The Coviu session API: sessions and their participants, as typed calls.

A participant id is its join link (DESIGN.md §9): paths that carry one are shown as
`/participants/***`, and the id is passed in as a `SecretStr`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote

from pydantic import SecretStr

from reconciler.clients.auth import CoviuTokens, Credentials
from reconciler.clients.caller import Call, Caller
from reconciler.clients.errors import (
    RequestRejectedError,
    SessionCanceledError,
    UnexpectedResponseError,
)
from reconciler.clients.models import (
    LiveParticipant,
    LiveSession,
    ParticipantChanges,
    ParticipantDraft,
    Probe,
    SessionChanges,
    SessionDraft,
    SessionPage,
)
from reconciler.clients.times import format_api_time

PAGE_SIZE = 200
SECOND = timedelta(seconds=1)
MAX_PAGES = 10_000  # 2 million sessions: beyond this a `more: true` is a broken server


@dataclass(frozen=True)
class SessionFilter:
    """What `list_sessions` asks for. Times are instants; cancelled sessions are opt-in."""

    starting_from: datetime | None = None
    ending_by: datetime | None = None
    include_canceled: bool = False
    deleted_participants: bool = False
    state: str | None = None

    def params(self) -> dict[str, str]:
        params = {
            "include_canceled": _flag(self.include_canceled),
            "deleted_participants": _flag(self.deleted_participants),
        }
        if self.starting_from is not None:
            params["start_time"] = format_api_time(self.starting_from)
        if self.ending_by is not None:
            params["end_time"] = format_api_time(self.ending_by)
        if self.state is not None:
            params["state"] = self.state
        return params


@dataclass(frozen=True)
class ParticipantLookup:
    """What finds a participant whose creation's answer was lost."""

    session_id: str
    draft: ParticipantDraft


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _same_second(answered: datetime, sent: datetime) -> bool:
    # Exact, or the sent time cut to whole seconds as Coviu answers it; never a neighbour.
    return answered in (sent, sent.replace(microsecond=0))


def _session_read(path: str, deleted_participants: bool) -> Call:
    """A read of a session or its participants: a 401 without a challenge means cancelled."""
    params = {"deleted_participants": _flag(deleted_participants)}
    return Call("GET", path, path, params=params, session_scoped=True)


def _segment(value: str) -> str:
    return quote(value, safe="")


class CoviuClient:
    """Typed calls to the Coviu API; concurrent use is safe and shares one token."""

    def __init__(self, caller: Caller, credentials: Credentials, *, page_parallelism: int = 4):
        self._caller = caller
        self.tokens = CoviuTokens(caller, credentials, caller.timer)
        self._parallelism = max(1, page_parallelism)

    @property
    def requests(self) -> int:
        """How many HTTP requests this client has sent, token requests included."""
        return self._caller.requests

    async def probe(self) -> Probe:
        """Get a token and read one session: proof that the URL and credentials work."""
        started, before = self._caller.timer.monotonic(), self.requests
        call = Call("GET", "/sessions", "/sessions?page_size=1", params={"page_size": "1"})
        await self._caller.send(call, tokens=self.tokens)
        elapsed = self._caller.timer.monotonic() - started
        return Probe("coviu", self._caller.server_date, elapsed, self.requests - before)

    async def server_time(self) -> datetime | None:
        """The server's clock (its `Date` header), read from the token request if no call
        was made yet; None if the server sends no usable Date."""
        if self._caller.server_date is None:
            await self.tokens.token()
        return self._caller.server_date

    # Sessions

    async def list_sessions(self, where: SessionFilter | None = None) -> list[LiveSession]:
        """Every session matching `where`, in the API's order, each exactly once.

        Pages are fetched `page_parallelism` at a time; the result is the one a
        page-by-page walk gives.
        """
        params = (where or SessionFilter()).params()
        pages = [await self._page(0, params)]
        width = 1
        while pages[-1].more:
            # Most listings fit a page or two: widen the batch 2, 4, … up to the limit,
            # so a short listing wastes few fetches past its end.
            first, width = len(pages), min(width * 2, self._parallelism)
            if first >= MAX_PAGES:
                raise UnexpectedResponseError(
                    self._caller.info("GET", "/sessions"),
                    f"still more sessions after {MAX_PAGES} pages",
                )
            batch = range(first, min(first + width, MAX_PAGES))
            for page in await self._pages(batch, params):
                pages.append(page)
                if not page.more:
                    break
        return _unique(pages)

    async def _pages(self, numbers: range, params: dict[str, str]) -> list[SessionPage]:
        """Fetch pages concurrently; if one fails, the others are cancelled, not orphaned."""
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(self._page(n, params)) for n in numbers]
        except BaseExceptionGroup as failed:
            raise failed.exceptions[0]  # noqa: B904 - it keeps its own cause
        return [task.result() for task in tasks]

    async def _page(self, number: int, params: dict[str, str]) -> SessionPage:
        query = {**params, "page": str(number), "page_size": str(PAGE_SIZE)}
        call = Call("GET", "/sessions", f"/sessions?page={number}", params=query)
        response = await self._caller.send(call, tokens=self.tokens)
        page = self._caller.parse(call, response, SessionPage)
        if page.page != number:
            raise UnexpectedResponseError(
                self._caller.info(call.method, call.shown),
                f"asked for page {number}, got {page.page}",
            )
        return page

    async def get_session(
        self, session_id: str, *, deleted_participants: bool = False
    ) -> LiveSession:
        """One session; a cancelled one raises SessionCanceledError."""
        call = _session_read(f"/sessions/{_segment(session_id)}", deleted_participants)
        response = await self._caller.send(call, tokens=self.tokens)
        return self._caller.parse(call, response, LiveSession)

    async def create_session(self, draft: SessionDraft) -> LiveSession:
        """Create a session with its participants in one call.

        Never retried once it may have reached the service: a lost answer raises
        OutcomeUnknownError whose `lookup` is the draft (see `find_sessions`).
        """
        call = Call(
            "POST", "/sessions", "/sessions", json=draft.body(), idempotent=False, lookup=draft
        )
        response = await self._caller.send(call, tokens=self.tokens)
        return self._caller.parse(call, response, LiveSession)

    async def find_sessions(self, draft: SessionDraft) -> list[LiveSession]:
        """Live sessions that look like `draft` (same name, start and end): where a create
        whose answer was lost would be."""
        # Coviu answers whole seconds: a draft's 09:00:00.500 comes back as 09:00:00.
        found = await self.list_sessions(
            SessionFilter(
                starting_from=draft.start_time - SECOND,
                ending_by=draft.end_time + SECOND,
                include_canceled=True,
            )
        )
        return [
            session
            for session in found
            if _same_second(session.start_time, draft.start_time)
            and _same_second(session.end_time, draft.end_time)
            and session.session_name == draft.session_name
        ]

    async def update_session(self, session_id: str, changes: SessionChanges) -> LiveSession:
        """Change some of a session's name, times and picture."""
        path = f"/sessions/{_segment(session_id)}"
        call = Call("PUT", path, path, json=changes.body())
        response = await self._caller.send(call, tokens=self.tokens)
        return self._caller.parse(call, response, LiveSession)

    async def cancel_session(self, session_id: str) -> None:
        """Cancel a session that has not started. Irreversible."""
        path = f"/sessions/{_segment(session_id)}"
        await self._cancel(Call("DELETE", path, path), lambda: self._is_canceled(session_id))

    async def _cancel(self, call: Call, done: Callable[[], Awaitable[bool]]) -> None:
        """Send a cancel; a retry refused because the lost first try already did it is
        success, once `done` confirms it."""
        try:
            await self._caller.send(call, tokens=self.tokens)
        except RequestRejectedError as error:
            if not (error.after_lost_answer and await done()):
                raise

    async def _is_canceled(self, session_id: str) -> bool:
        try:
            await self.get_session(session_id)
        except SessionCanceledError:
            return True
        return False

    # Participants

    async def list_participants(
        self, session_id: str, *, deleted_participants: bool = False
    ) -> list[LiveParticipant]:
        """A session's participants (removed ones too, if asked)."""
        path = f"/sessions/{_segment(session_id)}/participants"
        call = _session_read(path, deleted_participants)
        response = await self._caller.send(call, tokens=self.tokens)
        return self._caller.parse_list(call, response, LiveParticipant)

    async def add_participant(self, session_id: str, draft: ParticipantDraft) -> LiveParticipant:
        """Add a participant to a session; like a create, never retried blindly."""
        path = f"/sessions/{_segment(session_id)}/participants"
        call = Call(
            "POST",
            path,
            path,
            json=draft.body(),
            idempotent=False,
            lookup=ParticipantLookup(session_id, draft),
        )
        response = await self._caller.send(call, tokens=self.tokens)
        return self._caller.parse(call, response, LiveParticipant)

    async def find_participants(self, lookup: ParticipantLookup) -> list[LiveParticipant]:
        """Present participants of the session that look like the draft."""
        draft = lookup.draft
        return [
            p
            for p in await self.list_participants(lookup.session_id)
            if p.display_name == draft.display_name
            and p.role == draft.role
            and p.state == draft.state
            and p.picture == draft.picture
        ]

    async def get_participant(self, participant_id: SecretStr) -> LiveParticipant:
        """One participant, removed or not."""
        call = self._participant_call("GET", participant_id)
        response = await self._caller.send(call, tokens=self.tokens)
        return self._caller.parse(call, response, LiveParticipant)

    async def update_participant(
        self, participant_id: SecretStr, changes: ParticipantChanges
    ) -> LiveParticipant:
        """Change some of a participant's display name, role, picture and state."""
        call = self._participant_call("PUT", participant_id, json=changes.body())
        response = await self._caller.send(call, tokens=self.tokens)
        return self._caller.parse(call, response, LiveParticipant)

    async def cancel_participant(self, participant_id: SecretStr) -> None:
        """Remove a participant; their link stops working. Irreversible."""

        async def removed() -> bool:
            return (await self.get_participant(participant_id)).removed

        await self._cancel(self._participant_call("DELETE", participant_id), removed)

    def _participant_call(
        self, method: str, participant_id: SecretStr, *, json: object = None
    ) -> Call:
        secret = participant_id.get_secret_value()
        return Call(
            method,
            f"/participants/{_segment(secret)}",
            "/participants/***",
            json=json,
            secrets=(secret, _segment(secret)),
        )


def _unique(pages: Sequence[SessionPage]) -> list[LiveSession]:
    """The sessions of consecutive pages, each once (an offset can shift between pages)."""
    seen: set[str] = set()
    sessions = []
    for page in pages:
        for session in page.content:
            if session.session_id not in seen:
                seen.add(session.session_id)
                sessions.append(session)
    return sessions
