"""Planning: compare desired, recorded and live state at the server's time; make a Plan.

Pure: no clock, no file, no network (DESIGN.md §2). `desired_state()` turns loaded
manifests into the planner's input, `make_plan()` makes the plan, `plan_document()`
gives its versioned JSON form; `find_drift()` compares live with what was last applied.
"""

from reconciler.planning.desired import (
    SelectorError,
    desired_state,
    parse_only,
    parse_selector,
    scope_of,
)
from reconciler.planning.document import Sealer, plan_document, sealed_content, unkeyed_seal
from reconciler.planning.drift import (
    DRIFT_FORMAT,
    DRIFT_VERSION,
    Drift,
    DriftItem,
    DriftKind,
    find_drift,
)
from reconciler.planning.fingerprint import of_participant, of_session, of_snapshot
from reconciler.planning.ownership import labelled, unmatched_selection
from reconciler.planning.plan import (
    PLAN_FORMAT,
    PLAN_VERSION,
    SAFETY_MARGIN,
    Change,
    Ignored,
    Item,
    Kind,
    Plan,
    Status,
)
from reconciler.planning.planner import make_plan, worth_reading
from reconciler.planning.rules import Phase, phase_of
from reconciler.planning.state import (
    Desired,
    DesiredApproval,
    DesiredParticipant,
    DesiredSession,
    LiveParticipant,
    LiveSession,
    LiveSnapshot,
    Observation,
    ParticipantRecord,
    SessionRecord,
    optional_text,
)
from reconciler.planning.upcoming import Next

__all__ = [
    "DRIFT_FORMAT",
    "DRIFT_VERSION",
    "PLAN_FORMAT",
    "PLAN_VERSION",
    "SAFETY_MARGIN",
    "Change",
    "Desired",
    "DesiredApproval",
    "DesiredParticipant",
    "DesiredSession",
    "Drift",
    "DriftItem",
    "DriftKind",
    "Ignored",
    "Item",
    "Kind",
    "LiveParticipant",
    "LiveSession",
    "LiveSnapshot",
    "Next",
    "Observation",
    "ParticipantRecord",
    "Phase",
    "Plan",
    "Sealer",
    "SelectorError",
    "SessionRecord",
    "Status",
    "desired_state",
    "find_drift",
    "labelled",
    "make_plan",
    "of_participant",
    "of_session",
    "of_snapshot",
    "optional_text",
    "parse_only",
    "parse_selector",
    "phase_of",
    "plan_document",
    "scope_of",
    "sealed_content",
    "unkeyed_seal",
    "unmatched_selection",
    "worth_reading",
]
