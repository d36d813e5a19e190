"""Properties of the planner that hold whatever the manifests say.

- Planning against a live state that already is what the manifests ask for proposes
  nothing, blocks nothing and finds nothing unreconcilable: the normalization (offsets,
  fractions of a second, role case, empty text) makes equal what the API keeps equal.
- How manifests are spread over files, documents and folders changes nothing in the plan,
  byte for byte: file layout is not desired state.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from reconciler.manifests import load
from reconciler.planning import (
    Desired,
    DesiredSession,
    LiveParticipant,
    LiveSession,
    LiveSnapshot,
    Observation,
    ParticipantRecord,
    Plan,
    SessionRecord,
    desired_state,
    make_plan,
)
from reconciler.render.plan import as_json, as_text
from tests.conftest import T0
from tests.planning.strategies import (
    SECOND,
    ApprovalSpec,
    SessionSpec,
    Spec,
    hash_id,
    manifest_sets,
    yaml_documents,
)

PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
HOUR = timedelta(hours=1)
TARGETS = {"coviu": "http://coviu.test/v1", "auvious": "http://auvious.test"}


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder for every example of the module (hypothesis reruns a test, not its
    fixtures); a `.git` stops the search for a reconciler.yaml above it."""
    path = tmp_path_factory.mktemp("planning")
    (path / ".git").mkdir()
    return path


_runs = itertools.count()


def fresh(folder: Path) -> Path:
    path = folder / f"example-{next(_runs)}"
    path.mkdir()
    return path


def load_desired(root: Path) -> Desired:
    """The manifests under `root` as `reconciler plan .` run in `root` reads them."""
    with contextlib.chdir(root):
        return desired_state(load([Path(".")]), paths=["."])


# --- live state built from what the manifests say ------------------------------------------


def participant_id(session: SessionSpec, name: str) -> str:
    return f"pid-{session.key}-{name}"


def live_session(session: SessionSpec) -> LiveSession:
    """What Coviu holds for `session` once created: UTC, whole seconds, lower-case roles,
    no empty text."""
    return LiveSession(
        session_id=f"live-{session.key}",
        session_name=session.session_name,
        start=session.live_start,
        end=session.live_end,
        picture=session.picture,
        participants=tuple(
            LiveParticipant(
                id_hash=hash_id(participant_id(session, participant.name)),
                display_name=participant.display_name,
                role=participant.role.lower(),
                picture=participant.picture,
                state=participant.state or None,
            )
            for participant in session.participants
        ),
    )


def record_of(session: SessionSpec, live: LiveSession) -> SessionRecord:
    return SessionRecord(
        key=session.key,
        session_id=live.session_id,
        start=live.start,
        end=live.end,
        participants=tuple(
            ParticipantRecord(p.name, hash_id(participant_id(session, p.name)))
            for p in session.participants
        ),
    )


def snapshot_of(approval: ApprovalSpec, other_type: str | None) -> LiveSnapshot:
    """A snapshot already decided as `approval` says (its type too, when it names one)."""
    wanted_type = approval.snapshot_type if approval.state == "APPROVED" else None
    return LiveSnapshot(
        snapshot_id=approval.snapshot_id,
        interaction_id=approval.interaction_id,
        state=approval.state,
        type=wanted_type or other_type,
        version=2,
    )


def snapshots_by_interaction(
    snapshots: Sequence[LiveSnapshot],
) -> dict[str, tuple[LiveSnapshot, ...]]:
    found: dict[str, tuple[LiveSnapshot, ...]] = {}
    for snapshot in snapshots:
        found[snapshot.interaction_id] = (*found.get(snapshot.interaction_id, ()), snapshot)
    return found


@st.composite
def unmanaged_participants(draw: st.DrawFn) -> tuple[LiveParticipant, ...]:
    """Participants someone else added to a managed session (some since removed)."""
    count = draw(st.integers(0, 2))
    return tuple(
        LiveParticipant(
            id_hash=hash_id(f"someone-else-{index}"),
            display_name="Walk-in",
            role="guest",
            removed=draw(st.booleans()),
        )
        for index in range(count)
    )


@PROPERTY
@given(
    manifests=manifest_sets(),
    data=st.data(),
)
def test_plan_against_identical_live_state_is_empty(
    folder: Path,
    manifests: tuple[tuple[SessionSpec, ...], tuple[ApprovalSpec, ...]],
    data: st.DataObject,
) -> None:
    sessions, approvals = manifests
    root = fresh(folder)
    (root / "clinic.yaml").write_text(yaml_documents([*sessions, *approvals]), encoding="utf-8")
    desired = load_desired(root)

    lives = {}
    records = []
    for session in sessions:
        live = live_session(session)
        extra = data.draw(unmanaged_participants(), label=f"unmanaged in {session.key}")
        lives[live.session_id] = replace(live, participants=live.participants + extra)
        records.append(record_of(session, live))
    snapshots = [
        snapshot_of(approval, data.draw(st.none() | st.just("other-type"), label="type"))
        for approval in approvals
    ]
    bystander = LiveSnapshot("snap-bystander", "conv-1", "UPLOADED")
    observation = Observation(
        sessions=lives,
        unmanaged=data.draw(st.integers(0, 3), label="unmanaged sessions"),
        snapshots=snapshots_by_interaction([bystander, *snapshots]),
    )
    first_end = min(session.live_end for session in sessions)
    seconds = data.draw(st.integers(0, int((first_end - T0) / SECOND) - 1), label="now - T0")
    now = T0 + timedelta(seconds=seconds)

    plan = make_plan(desired, records, observation, now=now)

    assert plan.actions == ()
    assert plan.blocked == ()
    assert plan.unreconcilable == ()
    assert plan.exit_code() == 0
    assert plan.valid_until is None
    assert plan.ignored.history == 0
    assert "No changes" in as_text(plan, where="in tests")


# --- layouts --------------------------------------------------------------------------------

FOLDERS = ["", "clinic", "clinic/cardiology", "archive/2026"]


@dataclass(frozen=True)
class Layout:
    """Where each manifest is written: manifest index → file, and each file's documents in
    an order of their own."""

    files: tuple[str, ...]
    file_of: tuple[int, ...]
    order: tuple[int, ...]

    def write(self, root: Path, specs: Sequence[Spec], *, reverse_writes: bool = False) -> None:
        writes = list(enumerate(self.files))
        for index, name in reversed(writes) if reverse_writes else writes:
            chosen = [specs[i] for i in self.order if self.file_of[i] == index]
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(yaml_documents(chosen), encoding="utf-8")

    def source_of(self, index: int) -> str:
        return self.files[self.file_of[index]]


@st.composite
def layouts(draw: st.DrawFn, count: int) -> Layout:
    files = draw(st.integers(1, count))
    stems = draw(st.lists(st.sampled_from("abcdefgh"), min_size=files, max_size=files))
    paths = tuple(
        str(Path(draw(st.sampled_from(FOLDERS))) / f"{stem}-{index}.yaml")
        for index, stem in enumerate(stems)
    )
    # Every file gets at least one manifest; the rest go anywhere.
    file_of = list(range(files)) + draw(
        st.lists(st.integers(0, files - 1), min_size=count - files, max_size=count - files)
    )
    return Layout(
        files=paths,
        file_of=tuple(draw(st.permutations(file_of))),
        order=tuple(draw(st.permutations(range(count)))),
    )


VARIANTS = ["absent", "identical", "renamed", "moved", "participant-changed", "participant-new"]


def drifted(session: SessionSpec, variant: str) -> tuple[SessionRecord, LiveSession]:
    """A recorded live session that differs from `session` as `variant` says."""
    live = live_session(session)
    record = record_of(session, live)
    if variant == "renamed":
        live = replace(live, session_name="Renamed by hand")
    elif variant == "moved":
        hour = timedelta(hours=1)
        live = replace(live, start=live.start + hour, end=live.end + hour)
        record = replace(record, start=live.start, end=live.end)
    elif variant == "participant-changed" and live.participants:
        changed = replace(live.participants[0], display_name="Old name")
        live = replace(live, participants=(changed, *live.participants[1:]))
    elif variant == "participant-new" and live.participants:
        live = replace(live, participants=live.participants[:-1])
        record = replace(record, participants=record.participants[:-1])
    return record, live


def removed_session(start: datetime) -> tuple[SessionRecord, LiveSession]:
    """A session applied from a manifest that is gone: the plan cancels it."""
    applied = DesiredSession(
        key="removed-0",
        session_name="Old clinic",
        start=start,
        end=start + timedelta(minutes=30),
        source="gone/old.yaml",
    )
    live = LiveSession("live-removed-0", "Old clinic", applied.start, applied.end)
    record = SessionRecord("removed-0", live.session_id, live.start, live.end, applied=applied)
    return record, live


@st.composite
def live_states(
    draw: st.DrawFn, sessions: Sequence[SessionSpec], approvals: Sequence[ApprovalSpec]
) -> tuple[list[SessionRecord], Observation]:
    records, lives = [], {}
    for session in sessions:
        variant = draw(st.sampled_from(VARIANTS), label=f"live {session.key}")
        if variant != "absent":
            record, live = drifted(session, variant)
            records.append(record)
            lives[live.session_id] = live
    record, live = removed_session(T0 + timedelta(hours=draw(st.integers(1, 48))))
    records.append(record)
    lives[live.session_id] = live
    snapshots = [
        LiveSnapshot(
            approval.snapshot_id,
            approval.interaction_id,
            draw(st.sampled_from([None, "UPLOADED", "APPROVED", "DISCARDED"])),
        )
        for approval in approvals
        if draw(st.booleans())
    ]
    return records, Observation(sessions=lives, snapshots=snapshots_by_interaction(snapshots))


def plan_json(
    root: Path, records: Sequence[SessionRecord], observation: Observation, now: datetime
) -> str:
    plan: Plan = make_plan(load_desired(root), records, observation, now=now)
    for item in (*plan.actions, *plan.blocked, *plan.unreconcilable):
        event(f"{item.status.value} {item.kind.value}")
    return as_json(plan, targets=TARGETS)


@PROPERTY
@given(manifests=manifest_sets(), data=st.data())
def test_spreading_manifests_over_files_documents_and_folders_changes_no_plan(
    folder: Path,
    manifests: tuple[tuple[SessionSpec, ...], tuple[ApprovalSpec, ...]],
    data: st.DataObject,
) -> None:
    sessions, approvals = manifests
    specs: list[Spec] = [*sessions, *approvals]
    records, observation = data.draw(live_states(sessions, approvals), label="live")
    first = data.draw(layouts(len(specs)), label="layout")
    shuffled = Layout(
        first.files, first.file_of, tuple(data.draw(st.permutations(range(len(specs)))))
    )
    other = data.draw(layouts(len(specs)), label="other layout")
    now = T0 + data.draw(st.sampled_from([0, 2, 50]), label="hours after T0") * HOUR

    plans = []
    for layout, reverse in ((first, False), (shuffled, True), (other, False)):
        root = fresh(folder)
        layout.write(root, specs, reverse_writes=reverse)
        plans.append(plan_json(root, records, observation, now))

    assert plans[1] == plans[0], "reordering documents within files changed the plan"
    assert plans[2] == plans[0], "moving manifests to other files and folders changed the plan"


def test_identical_state_example_plans_nothing(folder: Path) -> None:
    """A readable instance of the first property: +11:00 and RFC 1123 in the manifest,
    UTC in Coviu; `HOST` in the manifest, `host` live; an empty state and none."""
    root = fresh(folder)
    (root / "clinic.yaml").write_text(
        """\
apiVersion: reconciler/v1
kind: Session
metadata: {name: cardiology}
spec:
  session_name: Cardiology follow-up
  start_time: Tue, 01 Dec 2026 22:00:00 GMT
  end_time: 2026-12-02T09:30:00.500+11:00
  participants:
    - {name: dr-who, display_name: Dr. Who, role: HOST, state: ""}
""",
        encoding="utf-8",
    )
    start = datetime.fromisoformat("2026-12-01T22:00:00+00:00")
    live = LiveSession(
        "s-1",
        "Cardiology follow-up",
        start,
        start + timedelta(minutes=30),
        participants=(LiveParticipant(hash_id("pid-1"), "Dr. Who", "host"),),
    )
    record = SessionRecord(
        "cardiology",
        "s-1",
        live.start,
        live.end,
        participants=(ParticipantRecord("dr-who", hash_id("pid-1")),),
    )
    plan = make_plan(load_desired(root), [record], Observation(sessions={"s-1": live}), now=T0)
    assert (plan.actions, plan.blocked, plan.unreconcilable) == ((), (), ())
