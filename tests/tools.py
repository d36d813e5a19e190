"""Tools outside Python that some tests run (node, npm): found on PATH, or the test is
skipped here and fails under CI, where skipping would hide that it never ran."""

from __future__ import annotations

import os
import shutil

import pytest


def require_tool(name: str, *, needed_by: str) -> str:
    """`name`'s path on PATH; without it, fail under CI (`CI` set) and skip elsewhere.
    `needed_by` says what runs under it, for the reason shown."""
    path = shutil.which(name)
    if path is not None:
        return path
    reason = f"`{name}` is not on PATH: {needed_by}"
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so this must not be skipped)")
    pytest.skip(reason)
