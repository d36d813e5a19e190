"""The emulated Auvious RTC snapshot API, under `/rtc-api/snapshots`, and its token endpoint."""

from __future__ import annotations

from starlette.routing import Route

from reconciler.emulator.auvious.auth import token
from reconciler.emulator.auvious.camera import camera_request, camera_request_respond
from reconciler.emulator.auvious.records import image_form
from reconciler.emulator.auvious.signed import signed_download, signed_url
from reconciler.emulator.auvious.snapshots import (
    acquire_snapshot,
    approve_snapshot,
    discard_snapshot,
    get_snapshot,
    list_snapshots,
    request_snapshot,
    upload_snapshot,
)
from reconciler.emulator.auvious.writes import write
from reconciler.emulator.http import json_object

routes = [
    Route("/security/oauth/token", token, methods=["POST"]),
    Route("/rtc-api/snapshots", list_snapshots, methods=["GET"]),
    Route("/rtc-api/snapshots/request", write(json_object, request_snapshot), methods=["POST"]),
    Route("/rtc-api/snapshots/acquire", write(image_form, acquire_snapshot), methods=["POST"]),
    Route("/rtc-api/snapshots/upload", write(image_form, upload_snapshot), methods=["POST"]),
    Route("/rtc-api/snapshots/approve", write(json_object, approve_snapshot), methods=["POST"]),
    Route("/rtc-api/snapshots/discard", write(json_object, discard_snapshot), methods=["POST"]),
    Route("/rtc-api/snapshots/signedUrl", write(json_object, signed_url), methods=["POST"]),
    Route("/rtc-api/snapshots/cameraRequest", write(json_object, camera_request), methods=["POST"]),
    Route(
        "/rtc-api/snapshots/cameraRequestRespond",
        write(json_object, camera_request_respond),
        methods=["POST"],
    ),
    Route("/rtc-api/snapshots/signed/{snapshot_id}/{expiration}", signed_download, methods=["GET"]),
    Route("/rtc-api/snapshots/{snapshot_id}", get_snapshot, methods=["GET"]),
]
