"""One API call, done right: rate-limited, authenticated, retried within bounds, logged
without secrets, and failed with the project's own errors.

Every request of both clients goes through `Caller.send`, so the rules live in one place:
which failures are retried (see `retry.py`), when a token is renewed (a 401 carrying a
Bearer challenge, or any 401 where a cancelled session cannot be the reason; once per
call), and what a caller is told when a create's answer is lost.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from reconciler.clients.errors import (
    ApiError,
    ApiUnavailableError,
    AuthenticationError,
    CallInfo,
    NotFoundError,
    OutcomeUnknownError,
    RequestRejectedError,
    SessionCanceledError,
    UnexpectedResponseError,
)
from reconciler.clients.masking import mask, shorten
from reconciler.clients.models import Grant
from reconciler.clients.retry import (
    Failure,
    RetryPolicy,
    classify_exception,
    classify_status,
    retry_after,
)
from reconciler.clients.times import ApiTimeError, parse_api_time
from reconciler.clients.timing import RateLimiter, Timer

if TYPE_CHECKING:
    from reconciler.clients.auth import TokenSource

log = logging.getLogger("reconciler.clients")
Model = TypeVar("Model", bound=BaseModel)
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)


@dataclass(frozen=True)
class Call:
    """One logical request. `shown` is the path as logs and errors may show it."""

    method: str
    path: str
    shown: str
    params: Mapping[str, str] | None = None
    json: Any = None
    form: Mapping[str, str] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    # Safe to send again after an answer was lost (reads, updates, Auvious writes).
    idempotent: bool = True
    # A 401 without a Bearer challenge here means the session is cancelled (Coviu).
    session_scoped: bool = False
    # For a create: what finds the object if its answer is lost.
    lookup: Any = None
    secrets: tuple[str, ...] = ()

    def __repr__(self) -> str:
        # Not the dataclass repr: path, form, headers and secrets may hold credentials.
        return f"Call({self.method} {self.shown})"


class Caller:
    """Sends calls to one service through a shared httpx client, limiter and policy."""

    def __init__(
        self,
        *,
        service: str,
        http: httpx.AsyncClient,
        policy: RetryPolicy,
        limiter: RateLimiter,
        timer: Timer,
        credentials_hint: str,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
    ) -> None:
        self.service = service
        self._http = http
        self._policy = policy
        self._limiter = limiter
        self.timer = timer
        self._hint = credentials_hint
        self._timeout = timeout
        self.requests = 0
        # The service's clock, from the Date header of its latest answer (DESIGN.md §6).
        self.server_date: datetime | None = None

    async def send(self, call: Call, *, tokens: TokenSource | None = None) -> httpx.Response:
        """Send `call` until it succeeds or may not be tried again; the 2xx answer."""
        tries, renewed, lost = 0, False, False
        while True:
            tries += 1
            token = await tokens.token() if tokens is not None else None
            secrets = call.secrets + (tokens.secrets() if tokens is not None else ())
            try:
                response = await self._try(call, token)
            except httpx.RequestError as error:
                failure = classify_exception(error)
                if not self._may_retry(call, failure) or tries >= self._policy.attempts:
                    raise self._lost(call, error, failure, tries, secrets) from error
                lost = lost or failure is Failure.UNKNOWN
                await self._wait(call, type(error).__name__, tries, self._policy.backoff(tries))
                continue
            status = response.status_code
            if status < 300:
                return response
            if (
                tokens is not None
                and token is not None
                and self._token_refused(call, response, renewed=renewed)
            ):
                renewed, tries = True, tries - 1  # a renewal is not a retry
                log.info("%s: token refused; renewing it once", self.service)
                await tokens.renew(token)
                continue
            retryable = classify_status(status)
            if retryable is not None and self._may_retry(call, retryable):
                wait = self._retry_wait(call, response, tries)
                if tries < self._policy.attempts:
                    # A 5xx may come after the work was done: a later refusal may be
                    # this try's doing, as after a dropped connection.
                    lost = lost or retryable is Failure.UNKNOWN
                    await self._wait(call, str(status), tries, wait)
                    continue
            refusal = self._refused(call, response, tries, renewed, secrets)
            refusal.after_lost_answer = lost
            raise refusal

    async def _try(self, call: Call, token: str | None) -> httpx.Response:
        headers = dict(call.headers)
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        async with self._limiter:
            started = self.timer.monotonic()
            self.requests += 1
            try:
                response = await self._http.request(
                    call.method,
                    call.path,
                    params=call.params,
                    json=call.json,
                    data=call.form,
                    headers=headers,
                    timeout=self._timeout,
                )
            except httpx.RequestError as error:
                self._log(call, type(error).__name__, started)
                raise
        self._log(call, str(response.status_code), started)
        self._note_date(response)
        return response

    def _note_date(self, response: httpx.Response) -> None:
        # A missing or odd Date header costs only the clock reading.
        with contextlib.suppress(ApiTimeError):
            self.server_date = parse_api_time(response.headers.get("date", ""))

    def _log(self, call: Call, outcome: str, started: float) -> None:
        elapsed_ms = (self.timer.monotonic() - started) * 1000
        log.info(
            "%s %s %s -> %s in %.0f ms", self.service, call.method, call.shown, outcome, elapsed_ms
        )

    def _token_refused(self, call: Call, response: httpx.Response, *, renewed: bool) -> bool:
        """Whether a 401 is about the token (and it has not been renewed for this call)."""
        if response.status_code != 401 or renewed:
            return False
        return _challenged(response) or not call.session_scoped

    def _may_retry(self, call: Call, failure: Failure) -> bool:
        return call.idempotent or failure is not Failure.UNKNOWN

    def _retry_wait(self, call: Call, response: httpx.Response, tries: int) -> float:
        """The wait before the next try: the backoff, or longer if the service asked.

        A 429 holds off every call to the service; a wait beyond `max_retry_after` is
        not waited for but raised, so a run does not stall.
        """
        backoff = self._policy.backoff(tries)
        asked = retry_after(response)
        if asked is None:
            return backoff
        if asked > self._policy.max_retry_after:
            raise ApiUnavailableError(
                self._info(call),
                f"{response.status_code}: the service asked to wait {asked:.0f} s before"
                f" trying again, more than the {self._policy.max_retry_after:.0f} s this run"
                " will wait; try again later",
                status=response.status_code,
                attempts=tries,
            )
        if response.status_code == 429:
            self._limiter.hold_off(asked)
        return max(backoff, asked)

    async def _wait(self, call: Call, outcome: str, tries: int, seconds: float) -> None:
        log.warning(
            "%s %s %s: %s; try %d of %d in %.1f s",
            self.service,
            call.method,
            call.shown,
            outcome,
            tries + 1,
            self._policy.attempts,
            seconds,
        )
        await self.timer.sleep(seconds)

    def info(self, method: str, shown: str) -> CallInfo:
        """A call's description for an error message."""
        return CallInfo(self.service, method, shown)

    def _info(self, call: Call) -> CallInfo:
        return self.info(call.method, call.shown)

    def _lost(
        self,
        call: Call,
        error: httpx.RequestError,
        failure: Failure,
        tries: int,
        secrets: tuple[str, ...],
    ) -> ApiError:
        what = mask(shorten(str(error) or type(error).__name__), secrets)
        if failure is Failure.UNKNOWN and not call.idempotent:
            return OutcomeUnknownError(
                self._info(call),
                f"the answer was lost ({type(error).__name__}: {what})",
                ", so it is not known whether this create happened. It was not sent again,"
                " so the object exists at most once: look for it before creating it again",
                lookup=call.lookup,
            )
        return ApiUnavailableError(
            self._info(call),
            f"no answer after {_tries(tries)} ({type(error).__name__}: {what})",
            attempts=tries,
        )

    def _refused(
        self,
        call: Call,
        response: httpx.Response,
        tries: int,
        renewed: bool,
        secrets: tuple[str, ...],
    ) -> ApiError:
        status = response.status_code
        reason = mask(shorten(_server_message(response)), secrets)
        info = self._info(call)
        failure = classify_status(status)
        if failure is Failure.UNKNOWN and not call.idempotent:
            return OutcomeUnknownError(
                info,
                f"the service answered {status} ({reason})",
                " and may or may not have created the object. It was not sent again: look"
                " for it before creating it again",
                lookup=call.lookup,
            )
        if failure is not None:
            return ApiUnavailableError(
                info, f"{status} {reason} after {_tries(tries)}", status=status, attempts=tries
            )
        if status == 401 and call.session_scoped and not _challenged(response):
            return SessionCanceledError(
                info, f"the session is cancelled ({reason})", status=status, reason=reason
            )
        if status in (401, 403):
            again = " even after renewing the token" if renewed else ""
            return AuthenticationError(
                info, f"{status} {reason}: access refused{again}. {self._hint}", status=status
            )
        if status == 404:
            return NotFoundError(info, f"404 {reason}", status=status, reason=reason)
        return RequestRejectedError(info, f"{status} {reason}", status=status, reason=reason)

    async def token_grant(
        self,
        path: str,
        *,
        form: Mapping[str, str],
        headers: Mapping[str, str],
        secrets: tuple[str, ...],
    ) -> Grant:
        """Ask a token endpoint for a grant; its refusal is an AuthenticationError."""
        call = Call(
            "POST",
            path,
            path,
            form=form,
            headers=headers,
            secrets=secrets,
        )
        try:
            response = await self.send(call)
        except RequestRejectedError as error:
            raise AuthenticationError(
                error.call,
                f"credentials refused ({error.status} {error.reason}). {self._hint}",
                status=error.status,
            ) from error
        return self.parse(call, response, Grant)

    def parse(self, call: Call, response: httpx.Response, model: type[Model]) -> Model:
        """Read a JSON answer into `model`; an UnexpectedResponseError if it does not fit."""
        try:
            return model.model_validate_json(response.content)
        except ValidationError as error:
            raise UnexpectedResponseError(
                self._info(call), f"the answer is not a {model.__name__}: {_problems(error)}"
            ) from None

    def parse_list(self, call: Call, response: httpx.Response, model: type[Model]) -> list[Model]:
        """Read a JSON array answer into a list of `model`."""
        data = self.json(call, response)
        if not isinstance(data, list):
            raise UnexpectedResponseError(self._info(call), "the answer is not a JSON array")
        try:
            return [model.model_validate(item) for item in data]
        except ValidationError as error:
            raise UnexpectedResponseError(
                self._info(call), f"an item is not a {model.__name__}: {_problems(error)}"
            ) from None

    def json(self, call: Call, response: httpx.Response) -> Any:
        """The answer's JSON body."""
        try:
            return response.json()
        except ValueError:
            raise UnexpectedResponseError(self._info(call), "the answer is not JSON") from None


def new_transaction_id() -> str:
    """A fresh `X-Auvious-TransactionId`: one per logical write, kept across its retries."""
    return str(uuid.uuid4())


def _challenged(response: httpx.Response) -> bool:
    """Whether a 401 says the token is the problem (RFC 6750's Bearer challenge)."""
    challenge: str = response.headers.get("www-authenticate", "")
    return challenge.lower().startswith("bearer")


def _server_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.reason_phrase or "no message"
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])
        for key in ("error_description", "message", "error"):
            if isinstance(body.get(key), str):
                return str(body[key])
    return response.reason_phrase or "no message"


def _problems(error: ValidationError) -> str:
    # Field paths and pydantic's wording only: the input values may be secrets, and a
    # validator's own message (a value_error) may quote its input.
    parts = [
        f"{'.'.join(str(p) for p in item['loc']) or 'body'}: "
        + ("invalid value" if item["type"] in _QUOTING_ERRORS else item["msg"])
        for item in error.errors(include_input=False, include_url=False)[:3]
    ]
    return "; ".join(parts)


_QUOTING_ERRORS = frozenset({"value_error", "assertion_error"})


def _tries(count: int) -> str:
    return "1 try" if count == 1 else f"{count} tries"
