"""The emulated Coviu session API, mounted under `/v1` (see API-NOTES.md)."""

from __future__ import annotations

from starlette.routing import Route

from reconciler.emulator.coviu.auth import token
from reconciler.emulator.coviu.participants import (
    add_participant,
    cancel_participant,
    get_participant,
    list_participants,
    update_participant,
)
from reconciler.emulator.coviu.sessions import (
    cancel_session,
    create_session,
    get_session,
    list_sessions,
    update_session,
)

routes = [
    Route("/auth/token", token, methods=["POST"]),
    Route("/sessions", create_session, methods=["POST"]),
    Route("/sessions", list_sessions, methods=["GET"]),
    Route("/session", list_sessions, methods=["GET"]),
    Route("/sessions/{session_id}", get_session, methods=["GET"]),
    Route("/sessions/{session_id}", update_session, methods=["PUT"]),
    Route("/sessions/{session_id}", cancel_session, methods=["DELETE"]),
    Route("/sessions/{session_id}/participants", list_participants, methods=["GET"]),
    Route("/sessions/{session_id}/participants", add_participant, methods=["POST"]),
    Route("/participants/{participant_id}", get_participant, methods=["GET"]),
    Route("/participants/{participant_id}", update_participant, methods=["PUT"]),
    Route("/participants/{participant_id}", cancel_participant, methods=["DELETE"]),
]
