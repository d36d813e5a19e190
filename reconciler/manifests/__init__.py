"""Manifests: the YAML a clinic keeps in git, read with a position for every mistake.

`load()` finds and reads the files, validates them against the models, and either
returns a `ManifestSet` or raises `ManifestError` carrying every problem found.
"""

from reconciler.manifests.config import ProjectConfig, RateLimitSettings
from reconciler.manifests.documents import Limits
from reconciler.manifests.fields import PREVENT_CANCEL
from reconciler.manifests.loader import (
    LoadedManifest,
    ManifestSet,
    Source,
    find_config_path,
    load,
    load_config,
)
from reconciler.manifests.models import (
    API_VERSION,
    Manifest,
    Metadata,
    Participant,
    Session,
    SessionSpec,
    SnapshotApproval,
    SnapshotApprovalSpec,
)
from reconciler.manifests.problems import ManifestError, Problem

__all__ = [
    "API_VERSION",
    "PREVENT_CANCEL",
    "Limits",
    "LoadedManifest",
    "Manifest",
    "ManifestError",
    "ManifestSet",
    "Metadata",
    "Participant",
    "Problem",
    "ProjectConfig",
    "RateLimitSettings",
    "Session",
    "SessionSpec",
    "SnapshotApproval",
    "SnapshotApprovalSpec",
    "Source",
    "find_config_path",
    "load",
    "load_config",
]
