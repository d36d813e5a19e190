"""The Auvious snapshot API: list, read, approve, discard, and signed download links.

Every write carries an `X-Auvious-TransactionId`, kept across the retries of one call,
so the service replays its first answer instead of acting twice: that is what makes
approve and discard safe to retry after a lost answer.
"""

from __future__ import annotations

from urllib.parse import quote

from reconciler.clients.auth import AuviousTokens, Credentials
from reconciler.clients.caller import Call, Caller, new_transaction_id
from reconciler.clients.models import Probe, SignedUrl, Snapshot

BASE = "/rtc-api/snapshots"
PROBE_INTERACTION = "reconciler-probe"  # any id will do: the answer is usually []


class AuviousClient:
    """Typed calls to the Auvious API; concurrent use is safe and shares one token."""

    def __init__(self, caller: Caller, credentials: Credentials, *, referer: str) -> None:
        self._caller = caller
        self.tokens = AuviousTokens(caller, credentials, caller.timer)
        self._referer = referer

    @property
    def requests(self) -> int:
        """How many HTTP requests this client has sent, token requests included."""
        return self._caller.requests

    async def probe(self) -> Probe:
        """Get a token and list an interaction: proof that the URL and credentials work."""
        started, before = self._caller.timer.monotonic(), self.requests
        await self.list_snapshots(PROBE_INTERACTION)
        elapsed = self._caller.timer.monotonic() - started
        return Probe("auvious", self._caller.server_date, elapsed, self.requests - before)

    async def list_snapshots(self, interaction_id: str) -> list[Snapshot]:
        """An interaction's snapshots, oldest first."""
        call = Call(
            "GET",
            BASE,
            f"{BASE}?interactionId={interaction_id}",
            params={"interactionId": interaction_id},
        )
        response = await self._caller.send(call, tokens=self.tokens)
        return self._caller.parse_list(call, response, Snapshot)

    async def get_snapshot(self, snapshot_id: str) -> Snapshot:
        """One snapshot."""
        path = f"{BASE}/{quote(snapshot_id, safe='')}"
        call = Call("GET", path, path)
        response = await self._caller.send(call, tokens=self.tokens)
        return self._caller.parse(call, response, Snapshot)

    async def approve_snapshot(
        self, snapshot_id: str, *, user_endpoint_id: str, snapshot_type: str | None = None
    ) -> None:
        """Approve an UPLOADED or APPROVED snapshot, optionally setting its type."""
        body: dict[str, object] = {"snapshotId": snapshot_id, "userEndpointId": user_endpoint_id}
        if snapshot_type is not None:
            body["snapshotType"] = snapshot_type
        await self._write("/approve", body)

    async def discard_snapshot(self, snapshot_id: str, *, user_endpoint_id: str) -> None:
        """Discard an UPLOADED or APPROVED snapshot. Irreversible."""
        await self._write(
            "/discard", {"snapshotId": snapshot_id, "userEndpointId": user_endpoint_id}
        )

    async def signed_url(self, snapshot_id: str, *, internal: bool = False) -> SignedUrl:
        """A time-limited download link for an APPROVED snapshot (a bearer credential)."""
        body = {"snapshotId": snapshot_id, "createInternalSignedUrl": internal}
        call = self._write_call("/signedUrl", body, extra={"Referer": self._referer})
        response = await self._caller.send(call, tokens=self.tokens)
        return self._caller.parse(call, response, SignedUrl)

    async def _write(self, endpoint: str, body: dict[str, object]) -> None:
        await self._caller.send(self._write_call(endpoint, body), tokens=self.tokens)

    def _write_call(
        self, endpoint: str, body: dict[str, object], *, extra: dict[str, str] | None = None
    ) -> Call:
        headers = {"X-Auvious-TransactionId": new_transaction_id(), **(extra or {})}
        # Replayed by transaction id, so as safe to send again as a PUT.
        return Call("POST", BASE + endpoint, BASE + endpoint, json=body, headers=headers)
