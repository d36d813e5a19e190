"""The project's own error tree: what a user can be told, and how the CLI exits.

Library code raises these, never a third-party exception, so the CLI can map every
failure to a message and an exit code without a traceback::

    ReconcilerError                 reported as `error: …`, exit 1
    ├── InputError                  the user's input is wrong; nothing was changed
    │   ├── ManifestError           manifests or reconciler.yaml (reconciler.manifests):
    │   │                           carries every problem of the run, each with
    │   │                           file:line:col
    │   ├── TargetError             API URLs or credentials unusable (reconciler.clients)
    │   ├── StateLocationError      --state / RECONCILER_STATE unusable (reconciler.engine)
    │   └── SelectorError           a --selector that is not key=value (reconciler.planning)
    ├── InventoryError              the state store cannot be read or written
    │   │                           (reconciler.inventory); nothing was changed
    │   └── LockedError             another run holds the inventory's lock; .lock says who
    └── ApiError                    a call to Coviu or Auvious failed (reconciler.clients);
        │                           names service, method and path, ids masked
        ├── ApiUnavailableError     no usable answer after every allowed try: unreachable,
        │                           timeouts, 5xx, 429
        ├── AuthenticationError     credentials refused, or a renewed token refused again
        ├── RequestRejectedError    4xx: understood and refused (a lifecycle rule); .reason
        │   ├── NotFoundError       404: no such object, or another team's
        │   └── SessionCanceledError  Coviu's 401 for a cancelled session (not the token)
        ├── UnexpectedResponseError an answer without the documented shape
        └── OutcomeUnknownError     a create's answer was lost: it may exist; never
                                    retried; .lookup finds it

Each subclass lives beside the code that raises it and derives from a class here.
Messages never contain entry URLs, participant ids, tokens or secrets (DESIGN.md §9).
"""

from __future__ import annotations


class ReconcilerError(Exception):
    """A failure the CLI reports and exits 1 for."""


class InputError(ReconcilerError):
    """The user's input is wrong; nothing was read from or written to an API."""
