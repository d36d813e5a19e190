"""The project's own error tree: what a user can be told, and how the CLI exits.

Library code raises these, never a third-party exception, so the CLI can map every
failure to a message and an exit code without a traceback::

    ReconcilerError                 reported as `error: …`, exit 1
    └── InputError                  the user's input is wrong; nothing was changed
        └── ManifestError           manifests or reconciler.yaml (reconciler.manifests):
                                    carries every problem of the run, each with
                                    file:line:col

Each subclass lives beside the code that raises it and derives from a class here.
Messages never contain entry URLs, participant ids, tokens or secrets (DESIGN.md §9).
"""

from __future__ import annotations


class ReconcilerError(Exception):
    """A failure the CLI reports and exits 1 for."""


class InputError(ReconcilerError):
    """The user's input is wrong; nothing was read from or written to an API."""
