"""Request parsing and error answers shared by the emulator's two APIs.

Coviu answers errors as `{"error": {"message": ...}}`; Auvious as a flat map of strings,
and its token endpoint in the OAuth2 `{"error", "error_description"}` form. Handlers
raise `ApiError` and the app renders it in the dialect of the path it was raised on.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from reconciler.emulator.times import TimeFormatError, parse_time

MAX_JSON_BODY = 1024 * 1024
_BOOLEANS = {"true": True, "1": True, "false": False, "0": False}


class ApiError(Exception):
    """An error answer: status, message and optional headers."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        headers: Mapping[str, str] | None = None,
        oauth_error: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})
        self.oauth_error = oauth_error


def is_auvious_path(path: str) -> bool:
    """Whether a path belongs to the Auvious API (flat error bodies)."""
    return path.startswith(("/rtc-api", "/security"))


def error_response(path: str, error: ApiError) -> JSONResponse:
    """Render an ApiError in the dialect of the API that owns the path."""
    body: dict[str, Any]
    oauth_error = error.oauth_error
    if oauth_error is None and path.startswith("/security/oauth"):
        oauth_error = "temporarily_unavailable" if error.status in (429, 503) else "server_error"
    if oauth_error is not None:
        body = {"error": oauth_error, "error_description": error.message}
    elif is_auvious_path(path):
        body = {"message": error.message, "status": str(error.status)}
    else:
        body = {"error": {"message": error.message}}
    return JSONResponse(body, status_code=error.status, headers=error.headers)


def bearer_token(request: Request) -> str | None:
    """The token of an `Authorization: Bearer …` header, or None."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def json_object(request: Request) -> dict[str, Any]:
    """The request body as a JSON object; 400 if it is anything else."""
    raw = await request.body()
    if len(raw) > MAX_JSON_BODY:
        raise ApiError(413, "request body is too large")
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as error:
        raise ApiError(400, f"request body is not valid JSON: {error}") from error
    except RecursionError:
        raise ApiError(400, "request body is nested too deeply") from None
    if not isinstance(body, dict):
        raise ApiError(400, "request body must be a JSON object")
    return body


def optional_str(body: Mapping[str, Any], field: str) -> str | None:
    """A string field, or None when absent or null; 400 for any other type."""
    value = body.get(field)
    if value is None or isinstance(value, str):
        return value
    raise ApiError(400, f"{field} must be a string")


def required_str(body: Mapping[str, Any], field: str) -> str:
    """A non-empty string field; 400 when missing."""
    value = optional_str(body, field)
    if not value:
        raise ApiError(400, f"{field} is required")
    return value


def time_value(text: str, field: str) -> datetime:
    """Parse an RFC 1123 or ISO 8601 time; 400 naming the field when it is neither."""
    try:
        return parse_time(text)
    except TimeFormatError as error:
        raise ApiError(400, f"{field}: {error}") from error


def query_bool(request: Request, name: str) -> bool:
    """A boolean query parameter (`true`/`false`/`1`/`0`), false when absent."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return False
    try:
        return _BOOLEANS[raw.lower()]
    except KeyError:
        raise ApiError(400, f"{name} must be true, false, 1 or 0, not {raw!r}") from None


def query_int(
    request: Request, name: str, *, default: int, minimum: int, maximum: int = 2**31
) -> int:
    """An integer query parameter within bounds."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"{name} must be an integer, not {raw!r}") from None
    if not minimum <= value <= maximum:
        raise ApiError(400, f"{name} must be from {minimum} to {maximum}")
    return value
