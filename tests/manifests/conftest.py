"""Fixtures of the manifest tests: a throw-away git checkout to write manifests into."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """An empty folder marked as a git root, so no `reconciler.yaml` above it is found."""
    (tmp_path / ".git").mkdir()
    return tmp_path
