"""`load()`: manifests as a clinic writes them, every mistake at `path:line:col` with its field.

Each mistake is made once, on purpose, in an otherwise valid manifest (`samples.SESSION`,
whose line numbers the cases below use), and must come back as exactly one Problem.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from reconciler.manifests import (
    LoadedManifest,
    ManifestError,
    Problem,
    ProjectConfig,
    Session,
    SnapshotApproval,
    Source,
    load,
)
from reconciler.manifests.config import CREDENTIALS_HINT
from tests.manifests.samples import (
    SESSION,
    SESSION_NAME,
    SNAPSHOT,
    SNAPSHOT_NAME,
    edit,
    loads,
    named,
    only_problem,
    problems,
    write,
)

AEDT = timezone(timedelta(hours=11))
PARTICIPANTS = SESSION[SESSION.index("  participants:\n") :]
SPEC = SESSION[SESSION.index("spec:\n") :]


def only_manifest(path: Path) -> LoadedManifest:
    loaded = loads([path])
    assert len(loaded.manifests) == 1
    return loaded.manifests[0]


def session_of(path: Path) -> Session:
    manifest = only_manifest(path).manifest
    assert isinstance(manifest, Session)
    return manifest


# --- valid manifests ------------------------------------------------------------------------


def test_a_valid_session_is_read_with_every_value(repo: Path) -> None:
    path = write(repo, "session.yaml", SESSION)
    loaded = only_manifest(path)
    assert loaded.source == Source(str(path), 1, 1)
    assert loaded.key == f"Session/{SESSION_NAME}"
    session = loaded.manifest
    assert isinstance(session, Session)
    assert session.api_version == "reconciler/v1"
    assert session.metadata.name == SESSION_NAME
    assert session.metadata.labels == {"clinic": "cardiology", "site": "parramatta"}
    spec = session.spec
    assert spec.session_name == "Cardiology follow-up"
    assert spec.picture == "https://example.org/room.png"
    assert spec.duration is None
    assert spec.end == datetime(2026, 12, 1, 9, 30, tzinfo=AEDT)
    assert spec.end - spec.start_time == timedelta(minutes=30)
    host, guest = spec.participants
    assert (host.name, host.display_name, host.role) == ("dr-who", "Dr. Who", "host")
    assert (host.picture, host.state) == ("https://example.org/who.png", "drwho1234")
    assert (guest.name, guest.display_name, guest.role) == ("patient-0042", "Jane Citizen", "guest")
    assert (guest.picture, guest.state) == (None, None)


def test_times_are_aware_datetimes_that_keep_the_offset_they_were_written_with(
    repo: Path,
) -> None:
    spec = session_of(write(repo, "session.yaml", SESSION)).spec
    assert spec.start_time == datetime(2026, 12, 1, 9, 0, tzinfo=AEDT)
    assert spec.start_time.utcoffset() == timedelta(hours=11)
    assert spec.start_time.isoformat() == "2026-12-01T09:00:00+11:00"
    # The same instant as 22:00 UTC the day before: times compare as instants.
    assert spec.start_time == datetime(2026, 11, 30, 22, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("written", "instant"),
    [
        ("Mon, 30 Nov 2026 21:45:00 GMT", datetime(2026, 11, 30, 21, 45, tzinfo=UTC)),
        ("Tue, 1 Dec 2026 08:15:00 GMT", datetime(2026, 12, 1, 8, 15, tzinfo=UTC)),
    ],
)
def test_an_rfc_1123_time_is_read_as_utc(repo: Path, written: str, instant: datetime) -> None:
    text = edit(SESSION, "start_time: 2026-12-01T09:00:00+11:00", f"start_time: {written}")
    text = edit(text, "end_time: 2026-12-01T09:30:00+11:00", "duration: 30m")
    spec = session_of(write(repo, "session.yaml", text)).spec
    assert spec.start_time == instant
    assert spec.start_time.utcoffset() == timedelta(0)


def test_a_duration_sets_the_end(repo: Path) -> None:
    text = edit(SESSION, "end_time: 2026-12-01T09:30:00+11:00", "duration: 1h30m")
    spec = session_of(write(repo, "session.yaml", text)).spec
    assert spec.end_time is None
    assert spec.duration == timedelta(hours=1, minutes=30)
    assert spec.end == datetime(2026, 12, 1, 10, 30, tzinfo=AEDT)


@pytest.mark.parametrize("written", ["host", "HOST", "Host", "hOsT"])
def test_a_role_is_read_in_any_case_and_kept_in_lower_case(repo: Path, written: str) -> None:
    text = edit(SESSION, "role: HOST", f"role: {written}")
    assert session_of(write(repo, "session.yaml", text)).spec.participants[0].role == "host"


def test_a_participant_without_a_role_is_a_guest(repo: Path) -> None:
    text = edit(SESSION, "      role: HOST\n", "")
    assert session_of(write(repo, "session.yaml", text)).spec.participants[0].role == "guest"


@pytest.mark.parametrize("written", ["no", "on", "yes", "'1234'", '"0042"', "2026-12-01"])
def test_a_state_that_yaml_1_1_would_retype_stays_text(repo: Path, written: str) -> None:
    text = edit(SESSION, "state: drwho1234", f"state: {written}")
    state = session_of(write(repo, "session.yaml", text)).spec.participants[0].state
    assert state == written.strip("'\"")


def test_a_valid_snapshot_approval_is_read_with_every_value(repo: Path) -> None:
    path = write(repo, "review.yaml", SNAPSHOT)
    loaded = only_manifest(path)
    assert loaded.key == f"SnapshotApproval/{SNAPSHOT_NAME}"
    approval = loaded.manifest
    assert isinstance(approval, SnapshotApproval)
    assert approval.metadata.name == SNAPSHOT_NAME
    assert approval.metadata.labels == {}
    spec = approval.spec
    assert spec.interaction_id == "conv-123"
    assert spec.snapshot_id == "5e0c9a"
    assert spec.decision == "approved"  # written `Approved`
    assert spec.snapshot_type == "wound-photo"
    assert spec.reviewer_endpoint_id == "ep-reviewer-1"


def test_several_documents_in_one_file_each_know_where_they_start(repo: Path) -> None:
    path = write(repo, "week.yaml", f"{SESSION}---\n{SNAPSHOT}---\n")
    loaded = loads([path])
    assert [manifest.source for manifest in loaded.manifests] == [
        Source(str(path), 1, 1),
        Source(str(path), 20, 1),  # the `---` line
    ]
    assert (loaded.count("Session"), loaded.count("SnapshotApproval")) == (1, 1)
    assert loaded.files == (str(path),)
    assert str(loaded.manifests[1].source) == f"{path}:20:1"


# --- one mistake, one problem ---------------------------------------------------------------

SESSION_MISTAKES = [
    # id, text replaced, replacement, line, column, field, phrases of the message
    (
        "unknown-optional-field",
        "  picture: https://example.org/room.png",
        "  pictur: https://example.org/room.png",
        10,
        3,
        "spec.pictur",
        ["unknown field 'pictur'; did you mean 'picture'?"],
    ),
    (
        "misspelt-required-field",
        "  session_name:",
        "  sesion_name:",
        7,
        3,
        "spec.sesion_name",
        ["unknown field 'sesion_name'; did you mean 'session_name'?"],
    ),
    (
        "field-in-kebab-case",
        "  session_name:",
        "  session-name:",
        7,
        3,
        "spec.session-name",
        ["did you mean 'session_name'?"],
    ),
    (
        "unknown-participant-field",
        "      state: drwho1234",
        "      stat: drwho1234",
        16,
        7,
        "spec.participants[0].stat",
        ["unknown field 'stat'; did you mean 'state'?"],
    ),
    (
        "unknown-field-nothing-close",
        "  picture: https://example.org/room.png",
        "  zzz: 1",
        10,
        3,
        "spec.zzz",
        [
            "unknown field 'zzz' (allowed here: session_name, start_time, end_time, duration,"
            " picture, participants)"
        ],
    ),
    (
        "wrong-api-version",
        "apiVersion: reconciler/v1",
        "apiVersion: reconciler/v2",
        1,
        1,
        "apiVersion",
        ["must be 'reconciler/v1'", "(got 'reconciler/v2')"],
    ),
    (
        "missing-api-version",
        "apiVersion: reconciler/v1\n",
        "",
        1,
        1,
        "apiVersion",
        ["is required"],
    ),
    (
        "missing-required-field-points-at-its-parent",
        "  session_name: Cardiology follow-up\n",
        "",
        6,
        1,
        "spec.session_name",
        ["is required"],
    ),
    (
        "naive-time",
        "start_time: 2026-12-01T09:00:00+11:00",
        "start_time: 2026-12-01T09:00:00",
        8,
        3,
        "spec.start_time",
        ["has no UTC offset", "2026-12-01T09:00:00+11:00", "Z for UTC"],
    ),
    (
        "bad-time",
        "start_time: 2026-12-01T09:00:00+11:00",
        "start_time: tomorrow at nine",
        8,
        3,
        "spec.start_time",
        ["not a time (got 'tomorrow at nine')", "ISO 8601", "RFC 1123"],
    ),
    (
        "impossible-date",
        "start_time: 2026-12-01T09:00:00+11:00",
        "start_time: 2026-02-30T09:00:00+11:00",
        8,
        3,
        "spec.start_time",
        ["not a time (got '2026-02-30T09:00:00+11:00')"],
    ),
    (
        "time-as-a-number",
        "start_time: 2026-12-01T09:00:00+11:00",
        "start_time: 1764540000",
        8,
        3,
        "spec.start_time",
        ["expected a time as text"],
    ),
    (
        "date-without-a-time",
        "start_time: 2026-12-01T09:00:00+11:00",
        "start_time: 2026-12-01",
        8,
        3,
        "spec.start_time",
        ["is a date without a time of day: write it like 2026-12-01T09:00:00+11:00"],
    ),
    (
        "unix-time-as-text",
        "start_time: 2026-12-01T09:00:00+11:00",
        "start_time: '1764540000'",
        8,
        3,
        "spec.start_time",
        ["not a time (got '1764540000')"],
    ),
    (
        "offset-without-minutes",
        "start_time: 2026-12-01T09:00:00+11:00",
        "start_time: 2026-12-01T09:00:00+11",
        8,
        3,
        "spec.start_time",
        ["not a time (got '2026-12-01T09:00:00+11')"],
    ),
    (
        "rfc-1123-wrong-weekday",
        "start_time: 2026-12-01T09:00:00+11:00",
        "start_time: Mon, 01 Dec 2026 22:00:00 GMT",
        8,
        3,
        "spec.start_time",
        ["01 Dec 2026 is a Tuesday, not a Monday: check the date"],
    ),
    (
        "end-time-and-duration",
        "  end_time: 2026-12-01T09:30:00+11:00\n",
        "  end_time: 2026-12-01T09:30:00+11:00\n  duration: 30m\n",
        9,
        3,
        "spec.end_time",
        ["give exactly one of end_time or duration"],
    ),
    (
        "neither-end-time-nor-duration",
        "  end_time: 2026-12-01T09:30:00+11:00\n",
        "",
        6,
        1,
        "spec",
        ["give exactly one of end_time or duration"],
    ),
    (
        "end-before-start",
        "end_time: 2026-12-01T09:30:00+11:00",
        "end_time: 2026-12-01T08:30:00+11:00",
        9,
        3,
        "spec.end_time",
        ["the session must end after it starts"],
    ),
    (
        "end-equal-to-start-in-another-offset",
        "end_time: 2026-12-01T09:30:00+11:00",
        "end_time: 2026-11-30T22:00:00Z",
        9,
        3,
        "spec.end_time",
        ["the session must end after it starts"],
    ),
    (
        "zero-duration",
        "end_time: 2026-12-01T09:30:00+11:00",
        "duration: 0m",
        9,
        3,
        "spec.duration",
        ["must be longer than zero"],
    ),
    (
        "negative-duration",
        "end_time: 2026-12-01T09:30:00+11:00",
        "duration: -15m",
        9,
        3,
        "spec.duration",
        ["must be longer than zero"],
    ),
    (
        "duration-without-a-unit",
        "end_time: 2026-12-01T09:30:00+11:00",
        "duration: 30",
        9,
        3,
        "spec.duration",
        ["write a duration with its unit, like 30m, 1h30m or PT30M"],
    ),
    (
        "duration-with-an-unknown-unit",
        "end_time: 2026-12-01T09:30:00+11:00",
        "duration: 30x",
        9,
        3,
        "spec.duration",
        ["not a duration: '30x'", "30m"],
    ),
    (
        "javascript-picture",
        "  picture: https://example.org/room.png",
        "  picture: javascript:alert(1)",
        10,
        3,
        "spec.picture",
        ["must be an http:// or https:// URL"],
    ),
    (
        "picture-url-with-user-and-password",
        "      picture: https://example.org/who.png",
        "      picture: https://admin:hunter2@example.org/who.png",
        15,
        7,
        "spec.participants[0].picture",
        ["must not carry a user name or password"],
    ),
    (
        "picture-url-with-a-space",
        "  picture: https://example.org/room.png",
        "  picture: https://example.org/my room.png",
        10,
        3,
        "spec.picture",
        ["must not contain spaces or control characters"],
    ),
    (
        "role-not-host-or-guest",
        "role: HOST",
        "role: admin",
        14,
        7,
        "spec.participants[0].role",
        ["must be 'host' or 'guest'", "(got 'admin')"],
    ),
    (
        "participant-name-used-twice-points-at-the-second",
        "    - name: patient-0042",
        "    - name: dr-who",
        17,
        7,
        "spec.participants[1].name",
        ["participant name 'dr-who' is used twice in this session"],
    ),
    (
        "numeric-state-hints-to-quote",
        "state: drwho1234",
        "state: 1234",
        16,
        7,
        "spec.participants[0].state",
        ["expected text, not a number (1234)", 'write it in quotes, like "1234"'],
    ),
    (
        "boolean-state-hints-to-quote",
        "state: drwho1234",
        "state: true",
        16,
        7,
        "spec.participants[0].state",
        ["expected text, not true/false (true)", 'write it in quotes, like "true"'],
    ),
    (
        "blank-session-name",
        "session_name: Cardiology follow-up",
        "session_name: '   '",
        7,
        3,
        "spec.session_name",
        ["must not be blank"],
    ),
    (
        "empty-display-name",
        "display_name: Dr. Who",
        "display_name: ''",
        13,
        7,
        "spec.participants[0].display_name",
        ["must not be empty"],
    ),
    (
        "participants-not-a-list",
        PARTICIPANTS,
        "  participants: everyone\n",
        11,
        3,
        "spec.participants",
        ["expected a list, not text"],
    ),
    (
        "spec-not-a-mapping",
        SPEC,
        "spec: tomorrow\n",
        6,
        1,
        "spec",
        ["expected a mapping of fields, not text"],
    ),
    (
        "invalid-label-value",
        "labels: {clinic: cardiology, site: parramatta}",
        "labels: {clinic: cardiology, site: 'Parramatta West'}",
        5,
        32,
        "metadata.labels.site",
        ["a label value is empty or up to 63 letters", "(got 'Parramatta West')"],
    ),
    (
        "invalid-label-key",
        "labels: {clinic: cardiology, site: parramatta}",
        "labels: {clinic: cardiology, 'the site': parramatta}",
        5,
        32,
        "metadata.labels.the site",
        ["a label key is up to 63 letters", "(got 'the site')"],
    ),
    (
        "numeric-label-value",
        "labels: {clinic: cardiology, site: parramatta}",
        "labels: {clinic: cardiology, site: 2150}",
        5,
        32,
        "metadata.labels.site",
        ["expected text, not a number (2150)", 'like "2150"'],
    ),
]


@pytest.mark.parametrize(
    ("old", "new", "line", "column", "field", "phrases"),
    [pytest.param(*case[1:], id=case[0]) for case in SESSION_MISTAKES],
)
def test_each_mistake_in_a_session_is_one_problem_at_its_line_column_and_field(
    repo: Path,
    old: str,
    new: str,
    line: int,
    column: int,
    field: str,
    phrases: list[str],
) -> None:
    path = write(repo, "session.yaml", edit(SESSION, old, new))
    problem = only_problem([path])
    where = (problem.path, problem.line, problem.column, problem.kind, problem.name, problem.field)
    assert where == (str(path), line, column, "Session", SESSION_NAME, field)
    for phrase in phrases:
        assert phrase in problem.message


def test_a_problem_renders_as_path_line_column_kind_name_field_message(repo: Path) -> None:
    path = write(repo, "session.yaml", edit(SESSION, "role: HOST", "role: admin"))
    assert only_problem([path]).render() == (
        f"{path}:14:7: Session/{SESSION_NAME}: spec.participants[0].role:"
        " must be 'host' or 'guest' (got 'admin')"
    )


NAME_RULE = (
    "must be 1 to 63 lower-case letters, digits and '-', starting and ending with a letter or digit"
)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("Cardiology_1", f"{NAME_RULE} (got 'Cardiology_1')"),
        ("-starts-with-a-dash", f"{NAME_RULE} (got '-starts-with-a-dash')"),
        ("ends-with-a-dash-", f"{NAME_RULE} (got 'ends-with-a-dash-')"),
        ("café", f"{NAME_RULE} (got 'café')"),
        ("a" * 64, "is too long: at most 63 characters"),
    ],
)
def test_an_invalid_metadata_name_is_one_problem_naming_the_document_by_it(
    repo: Path, name: str, message: str
) -> None:
    path = write(repo, "session.yaml", named(SESSION, name))
    problem = only_problem([path])
    where = (problem.line, problem.column, problem.kind, problem.name, problem.field)
    assert where == (4, 3, "Session", name, "metadata.name")
    assert problem.message == message


def test_a_missing_metadata_name_points_at_metadata(repo: Path) -> None:
    path = write(repo, "session.yaml", edit(SESSION, f"  name: {SESSION_NAME}\n", ""))
    problem = only_problem([path])
    where = (problem.line, problem.column, problem.kind, problem.name, problem.field)
    assert where == (3, 1, "Session", "", "metadata.name")
    assert problem.message == "is required"
    assert problem.render().startswith(f"{path}:3:1: Session/?: metadata.name: ")


def test_a_numeric_metadata_name_hints_to_quote_it(repo: Path) -> None:
    path = write(repo, "session.yaml", named(SESSION, "1234"))
    problem = only_problem([path])
    assert (problem.line, problem.column, problem.field) == (4, 3, "metadata.name")
    assert problem.message == (
        'expected text, not a number (1234): to mean the text, write it in quotes, like "1234"'
    )


@pytest.mark.parametrize(
    ("written", "phrase"),
    [
        ("kind: Sesion", "unknown kind 'Sesion'; did you mean 'Session'?"),
        ("kind: session", "unknown kind 'session'; did you mean 'Session'?"),
        ("kind: SnapshotAproval", "did you mean 'SnapshotApproval'?"),
        ("kind: Meeting", "unknown kind 'Meeting' (kinds: Session, SnapshotApproval)"),
    ],
)
def test_an_unknown_kind_is_one_problem_with_a_did_you_mean(
    repo: Path, written: str, phrase: str
) -> None:
    path = write(repo, "session.yaml", edit(SESSION, "kind: Session", written))
    problem = only_problem([path])
    assert (problem.line, problem.column, problem.field) == (2, 1, "kind")
    assert problem.name == SESSION_NAME
    assert phrase in problem.message
    assert "(kinds: Session, SnapshotApproval)" in problem.message


def test_a_missing_kind_is_one_problem_listing_the_kinds(repo: Path) -> None:
    path = write(repo, "session.yaml", edit(SESSION, "kind: Session\n", ""))
    problem = only_problem([path])
    assert (problem.line, problem.column, problem.field) == (1, 1, "kind")
    assert (problem.kind, problem.name) == ("", SESSION_NAME)
    assert problem.message == "is required: one of Session, SnapshotApproval"
    # The field is named once: not "kind: kind is missing".
    assert problem.render() == (
        f"{path}:1:1: ?/{SESSION_NAME}: kind: is required: one of Session, SnapshotApproval"
    )


@pytest.mark.parametrize("written", ["kind:", "kind: ~", "kind: null"])
def test_an_empty_kind_is_called_empty_not_none(repo: Path, written: str) -> None:
    path = write(repo, "session.yaml", edit(SESSION, "kind: Session", written))
    problem = only_problem([path])
    assert (problem.line, problem.column, problem.field) == (2, 1, "kind")
    assert problem.message == "is empty: write one of Session, SnapshotApproval"


@pytest.mark.parametrize(
    ("text", "what"),
    [
        ("- apiVersion: reconciler/v1\n- kind: Session\n", "a list"),
        ("just some text\n", "text"),
        ("42\n", "a number (42)"),
        ("true\n", "true/false (true)"),
    ],
)
def test_a_document_that_is_not_a_mapping_is_one_problem_at_its_start(
    repo: Path, text: str, what: str
) -> None:
    path = write(repo, "notes.yaml", f"{SESSION}---\n{text}")
    problem = only_problem([path])
    assert problem == Problem(
        str(path), 20, 1, message=f"a manifest must be a mapping of fields, not {what}"
    )


@pytest.mark.parametrize(
    ("text", "column", "message"),
    [
        ("- !foo 1\n", 3, "unsupported tag !foo"),
        ("- *nowhere\n", 3, "alias *nowhere names no anchor before it in this document"),
    ],
)
def test_a_document_whose_reading_stopped_is_not_also_called_not_a_mapping(
    repo: Path, text: str, column: int, message: str
) -> None:
    # Its data is partial: only the issue that stopped it is reported.
    path = write(repo, "notes.yaml", f"{SESSION}---\n{text}")
    assert only_problem([path]) == Problem(str(path), 21, column, field="[0]", message=message)


def test_an_empty_document_between_manifests_is_ignored(repo: Path) -> None:
    path = write(repo, "week.yaml", f"---\n---\n{SESSION}---\n# nothing\n---\n")
    assert len(loads([path]).manifests) == 1


def test_a_yaml_syntax_error_is_one_problem_at_its_position(repo: Path) -> None:
    path = write(repo, "session.yaml", edit(SESSION, "role: guest", "role: [guest"))
    problem = only_problem([path])
    assert (problem.path, problem.line, problem.column) == (str(path), 20, 1)
    # libyaml's syntax errors are re-read by the pure-Python parser, whose words these are.
    assert problem.message == (
        "expected ',' or ']', but got '<stream end>'"
        " (while parsing a flow sequence that starts at line 19)"
    )
    assert (problem.kind, problem.name, problem.field) == ("", "", "")


def test_a_duplicate_key_is_one_problem_naming_the_first(repo: Path) -> None:
    text = edit(SESSION, "  picture: https://example.org/room.png\n", "  session_name: Again\n")
    path = write(repo, "session.yaml", text)
    problem = only_problem([path])
    assert (problem.line, problem.column, problem.field) == (10, 3, "spec.session_name")
    assert (problem.kind, problem.name) == ("Session", SESSION_NAME)
    assert problem.message == "duplicate key 'session_name' (first at line 7)"


def test_a_mistake_beside_a_duplicate_key_keeps_its_own_line(repo: Path) -> None:
    text = edit(SESSION, "start_time: 2026-12-01T09:00:00+11:00", "start_time: 2026-12-01T09:00:00")
    text = edit(
        text,
        "  picture: https://example.org/room.png\n",
        "  picture: https://example.org/room.png\n  session_name:\n    start_time: later\n",
    )
    path = write(repo, "session.yaml", text)
    found = {problem.field: problem for problem in problems([path])}
    assert (found["spec.start_time"].line, found["spec.start_time"].column) == (8, 3)


@pytest.mark.parametrize("field", ["end_time", "duration"])
def test_an_empty_end_time_or_duration_is_one_problem(repo: Path, field: str) -> None:
    text = edit(SESSION, "end_time: 2026-12-01T09:30:00+11:00", f"{field}:")
    problem = only_problem([write(repo, "session.yaml", text)])
    assert (problem.line, problem.column, problem.field) == (9, 3, f"spec.{field}")
    assert problem.message == "is empty: give a value, or remove the line"


def test_a_wrong_api_version_names_the_right_one_once(repo: Path) -> None:
    text = edit(SESSION, "apiVersion: reconciler/v1", "apiVersion: reconciler/v2")
    problem = only_problem([write(repo, "session.yaml", text)])
    assert problem.message.count("reconciler/v1") == 1


def test_a_boolean_role_is_shown_as_yaml_writes_it(repo: Path) -> None:
    text = edit(SESSION, "role: HOST", "role: true")
    problem = only_problem([write(repo, "session.yaml", text)])
    assert "(got true)" in problem.message


@pytest.mark.parametrize(
    ("written", "quoted"),
    [("02134", '"02134"'), ("0x1F", '"0x1F"'), ("1.50", '"1.50"'), ("1e3", '"1e3"')],
)
def test_the_hint_to_quote_a_number_quotes_it_as_written(
    repo: Path, written: str, quoted: str
) -> None:
    text = edit(SESSION, "state: drwho1234", f"state: {written}")
    problem = only_problem([write(repo, "session.yaml", text)])
    assert problem.message == (
        f"expected text, not a number ({written}): to mean the text, write it in quotes,"
        f" like {quoted}"
    )


def test_a_snapshot_approval_mistake_names_its_kind_and_field(repo: Path) -> None:
    text = edit(SNAPSHOT, "decision: Approved", "decision: maybe")
    path = write(repo, "review.yaml", text)
    problem = only_problem([path])
    where = (problem.line, problem.column, problem.kind, problem.name, problem.field)
    assert where == (8, 3, "SnapshotApproval", SNAPSHOT_NAME, "spec.decision")
    assert "must be 'approved' or 'discarded'" in problem.message
    assert "(got 'maybe')" in problem.message


def test_a_snapshot_approval_missing_its_reviewer_points_at_spec(repo: Path) -> None:
    text = edit(SNAPSHOT, "  reviewer_endpoint_id: ep-reviewer-1\n", "")
    problem = only_problem([write(repo, "review.yaml", text)])
    assert (problem.line, problem.column, problem.field) == (5, 1, "spec.reviewer_endpoint_id")
    assert problem.message == "is required"


# --- across documents and files -------------------------------------------------------------


def test_a_name_used_in_two_files_is_reported_at_the_second_naming_the_first(
    repo: Path,
) -> None:
    first = write(repo, "a.yaml", SESSION)
    second = write(repo, "b.yaml", edit(SESSION, "Cardiology follow-up", "Another"))
    problem = only_problem([repo])
    where = (problem.path, problem.line, problem.column, problem.field, problem.name)
    assert where == (str(second), 4, 3, "metadata.name", SESSION_NAME)
    assert problem.message == (
        f"'{SESSION_NAME}' is already used by Session/{SESSION_NAME} at {first}:4:3;"
        " names must be unique"
    )


def test_a_name_is_unique_across_kinds_too(repo: Path) -> None:
    write(repo, "a.yaml", SESSION)
    second = write(repo, "b.yaml", named(SNAPSHOT, SESSION_NAME))
    problem = only_problem([repo])
    assert (problem.path, problem.kind, problem.field) == (
        str(second),
        "SnapshotApproval",
        "metadata.name",
    )
    assert f"already used by Session/{SESSION_NAME}" in problem.message


def test_every_mistake_of_every_file_is_reported_in_one_run(repo: Path) -> None:
    a = write(repo, "a.yaml", edit(SESSION, "role: HOST", "role: admin"))
    naive = edit(SESSION, "09:00:00+11:00", "09:00:00")
    b = write(
        repo,
        "b.yaml",
        edit(SNAPSHOT, "decision: Approved", "decision: maybe") + "---\n" + named(naive, "b"),
    )
    c = write(repo, "sub/c.yaml", "kind: [\n")
    d = write(
        repo,
        "sub/deeper/d.yml",
        named(
            edit(SESSION, "picture: https://example.org/room", "pictur: https://example.org/room"),
            "d",
        ),
    )
    found = problems([repo])
    assert [(problem.path, problem.line, problem.column, problem.field) for problem in found] == [
        (str(a), 14, 7, "spec.participants[0].role"),
        (str(b), 8, 3, "spec.decision"),
        (str(b), 19, 3, "spec.start_time"),  # 11 lines after the snapshot's 8
        (str(c), 2, 1, ""),
        (str(d), 10, 3, "spec.pictur"),
    ]
    assert [problem.name for problem in found] == [SESSION_NAME, SNAPSHOT_NAME, "b", "", "d"]


def test_problems_are_sorted_by_path_then_line(repo: Path) -> None:
    text = edit(SESSION, "state: drwho1234", "state: 7")
    text = edit(text, "role: HOST", "role: admin")
    text = edit(text, "apiVersion: reconciler/v1", "apiVersion: reconciler/v0")
    b = write(repo, "b.yaml", text)
    a = write(repo, "a.yaml", named(edit(SESSION, "Cardiology follow-up", "''"), "a"))
    found = problems([repo])
    assert [(problem.path, problem.line) for problem in found] == [
        (str(a), 7),
        (str(b), 1),
        (str(b), 14),
        (str(b), 16),
    ]


def test_the_error_says_the_first_problem_and_how_many_more(repo: Path) -> None:
    write(repo, "a.yaml", edit(SESSION, "role: HOST", "role: admin"))
    write(repo, "b.yaml", "kind: [\n")
    with pytest.raises(ManifestError) as caught:
        load([repo])
    first = caught.value.problems[0].render()
    assert str(caught.value) == f"{first} (and 1 more)"


# --- files and folders ----------------------------------------------------------------------


def test_folders_are_read_recursively_for_yaml_and_yml_files(repo: Path) -> None:
    a = write(repo, "a.yaml", SESSION)
    b = write(repo, "sessions/2026/december/b.yml", named(SESSION, "b"))
    c = write(repo, "snapshots/C.YAML", SNAPSHOT)
    write(repo, "notes.txt", "kind: [ not yaml at all")
    write(repo, "data.json", "{]")
    write(repo, "README.md", "# hello")
    loaded = loads([repo])
    assert sorted(loaded.files) == sorted([str(a), str(b), str(c)])
    assert sorted(manifest.key for manifest in loaded.manifests) == [
        "Session/b",
        f"Session/{SESSION_NAME}",
        f"SnapshotApproval/{SNAPSHOT_NAME}",
    ]


def test_hidden_folders_and_files_and_the_state_folder_are_skipped(repo: Path) -> None:
    write(repo, "a.yaml", SESSION)
    write(repo, ".reconciler/journal.yaml", "kind: [ broken")
    write(repo, ".github/workflows/ci.yaml", "on: push\njobs: {}\n")
    write(repo, ".git/config.yaml", "kind: [ broken")
    write(repo, "sessions/.draft/x.yaml", "kind: [ broken")
    write(repo, "sessions/.scratch.yaml", "kind: [ broken")
    assert [str(manifest.source) for manifest in loads([repo]).manifests] == [f"{repo}/a.yaml:1:1"]


def test_a_linked_folder_is_followed(repo: Path) -> None:
    shared = write(repo, "shared/b.yaml", named(SESSION, "b")).parent
    clinic = write(repo, "clinic/a.yaml", SESSION).parent
    (clinic / "shared").symlink_to(shared, target_is_directory=True)
    loaded = loads([clinic])
    assert loaded.files == (str(clinic / "a.yaml"), str(clinic / "shared" / "b.yaml"))
    assert sorted(manifest.key for manifest in loaded.manifests) == [
        "Session/b",
        f"Session/{SESSION_NAME}",
    ]


def test_a_folder_reached_twice_through_links_is_read_once(repo: Path) -> None:
    shared = write(repo, "shared/b.yaml", named(SESSION, "b")).parent
    write(repo, "a.yaml", SESSION)
    (repo / "link").symlink_to(shared, target_is_directory=True)
    (shared / "back").symlink_to(repo, target_is_directory=True)  # a loop, too
    loaded = loads([repo])  # a name read twice would be "already used"
    assert sorted(manifest.key for manifest in loaded.manifests) == [
        "Session/b",
        f"Session/{SESSION_NAME}",
    ]
    assert len(loaded.files) == 2


def test_reconciler_yaml_is_project_config_never_a_manifest(repo: Path) -> None:
    manifest = write(repo, "a.yaml", SESSION)
    config = write(repo, "reconciler.yaml", "state: .reconciler/state.db\n")
    loaded = loads([repo])
    assert loaded.files == (str(manifest),)
    assert loaded.config == ProjectConfig(state=".reconciler/state.db")
    assert loaded.config_path is not None
    assert Path(loaded.config_path).resolve() == config.resolve()


@pytest.mark.parametrize("name", ["reconciler.yaml", "reconciler.yml"])
def test_reconciler_yaml_is_found_by_walking_up_from_the_first_path(repo: Path, name: str) -> None:
    config = write(repo, name, "state: inventory.db\n")
    manifest = write(repo, "clinic/sessions/a.yaml", SESSION)
    for start in (manifest.parent, manifest):
        loaded = loads([start])
        assert loaded.config.state == "inventory.db"
        assert loaded.config_path is not None
        assert Path(loaded.config_path).resolve() == config.resolve()


def test_the_walk_up_for_reconciler_yaml_stops_at_the_git_root(tmp_path: Path) -> None:
    write(tmp_path, "reconciler.yaml", "state: someone-elses.db\n")
    (tmp_path / "checkout" / ".git").mkdir(parents=True)
    write(tmp_path, "checkout/clinic/a.yaml", SESSION)
    loaded = loads([tmp_path / "checkout" / "clinic"])
    assert loaded.config == ProjectConfig()
    assert loaded.config_path is None


def test_an_invalid_reconciler_yaml_is_reported_at_its_line_and_column(repo: Path) -> None:
    write(repo, "a.yaml", SESSION)
    config = write(repo, "reconciler.yaml", "# settings\nstat: inventory.db\n")
    problem = only_problem([repo])
    assert Path(problem.path).resolve() == config.resolve()
    assert (problem.line, problem.column, problem.field) == (2, 1, "stat")
    assert problem.message == "unknown field 'stat'; did you mean 'state'?"


def test_a_reconciler_yaml_syntax_error_is_reported_at_its_line_and_column(repo: Path) -> None:
    write(repo, "a.yaml", SESSION)
    config = write(repo, "reconciler.yaml", "emulator:\n  clock: [2026\n")
    problem = only_problem([repo])
    assert Path(problem.path).resolve() == config.resolve()
    assert (problem.line, problem.column) == (3, 1)
    assert "flow sequence that starts at line 2" in problem.message


def test_a_naive_emulator_clock_in_reconciler_yaml_is_refused(repo: Path) -> None:
    write(repo, "a.yaml", SESSION)
    write(repo, "reconciler.yaml", "emulator:\n  clock: 2026-12-04T09:00:00\n")
    problem = only_problem([repo])
    assert (problem.line, problem.column, problem.field) == (2, 3, "emulator.clock")
    assert "has no UTC offset" in problem.message


def test_a_time_in_flow_style_is_read_though_libyaml_refuses_its_colons(repo: Path) -> None:
    # libyaml stops at "found unexpected ':'"; YAML 1.2 allows it, and the pure parser reads it.
    write(repo, "a.yaml", SESSION)
    write(repo, "reconciler.yaml", "emulator: {clock: 2026-12-04T09:00:00Z}\n")
    loaded = loads([repo])
    assert loaded.config.emulator.clock == datetime(2026, 12, 4, 9, 0, tzinfo=UTC)


def test_a_participant_in_flow_style_with_a_picture_url_is_read(repo: Path) -> None:
    text = (
        SESSION + "    - {name: nurse, display_name: Nurse, picture: https://example.org/n.png}\n"
    )
    participants = session_of(write(repo, "session.yaml", text)).spec.participants
    assert participants[2].picture == "https://example.org/n.png"


@pytest.mark.parametrize(
    ("key", "field"),
    [
        ("coviu_api_key: abc123\n", "coviu_api_key"),
        ("COVIU_API_SECRET: abc123\n", "COVIU_API_SECRET"),
        ("auvious_client_secret: abc123\n", "auvious_client_secret"),
        ("password: hunter2\n", "password"),
        ("api_token: t0k3n\n", "api_token"),
    ],
)
def test_a_credentials_looking_key_in_reconciler_yaml_says_they_never_go_there(
    repo: Path, key: str, field: str
) -> None:
    write(repo, "a.yaml", SESSION)
    write(repo, "reconciler.yaml", "state: inventory.db\n" + key)
    problem = only_problem([repo])
    assert (problem.line, problem.column, problem.field) == (2, 1, field)
    assert problem.message == CREDENTIALS_HINT
    assert problem.message.startswith("credentials never go in reconciler.yaml")
    assert "abc123" not in problem.render()


def test_a_nested_credentials_key_gets_the_same_message(repo: Path) -> None:
    write(repo, "a.yaml", SESSION)
    write(repo, "reconciler.yaml", "emulator:\n  client_secret: x\n")
    problem = only_problem([repo])
    assert (problem.line, problem.column, problem.field) == (2, 3, "emulator.client_secret")
    assert problem.message == CREDENTIALS_HINT


def test_a_password_in_reconciler_yaml_state_is_said_without_pydantics_prefix(
    repo: Path,
) -> None:
    # A validator's ValueError reads "Value error, ..." in pydantic: jargon, not advice.
    write(repo, "a.yaml", SESSION)
    write(repo, "reconciler.yaml", "state: postgresql://ci:hunter2@db.example/inventory\n")
    problem = only_problem([repo])
    assert (problem.line, problem.column, problem.field) == (1, 1, "state")
    assert problem.message.startswith("a password does not belong in reconciler.yaml")
    assert "hunter2" not in problem.render()


def test_a_path_that_does_not_exist_is_one_problem(repo: Path) -> None:
    write(repo, "a.yaml", SESSION)
    missing = repo / "no-such-folder"
    problem = only_problem([repo, missing])
    assert problem == Problem(str(missing), message="no such file or folder")
    assert problem.render() == f"{missing}: no such file or folder"


NO_YAML_FILES = "no manifests found (looked for *.yaml and *.yml files, skipping hidden folders)"


def test_an_empty_folder_has_no_manifests(repo: Path) -> None:
    folder = repo / "empty"
    folder.mkdir()
    write(folder, ".drafts/a.yaml", SESSION)
    write(folder, "notes.txt", SESSION)
    problem = only_problem([folder])
    assert problem == Problem(str(folder), message=NO_YAML_FILES)


def test_a_folder_with_only_a_config_has_no_manifests(repo: Path) -> None:
    write(repo, "reconciler.yaml", "state: x.db\n")
    problem = only_problem([repo])
    assert problem == Problem(str(repo), message=NO_YAML_FILES)


@pytest.mark.parametrize(
    ("texts", "message"),
    [
        (["# nothing yet\n"], "no manifests in the 1 YAML file found"),
        (["", "---\n---\n"], "no manifests in the 2 YAML files found"),
    ],
)
def test_yaml_files_without_a_manifest_are_counted(
    repo: Path, texts: list[str], message: str
) -> None:
    for index, text in enumerate(texts):
        write(repo, f"sessions/{index}.yaml", text)
    folder = repo / "sessions"
    assert only_problem([folder]) == Problem(str(folder), message=message)


def test_no_manifests_names_every_path_given(repo: Path) -> None:
    a = write(repo, "a.yaml", "")
    b = write(repo, "b.yml", "# nothing\n")
    assert only_problem([a, b]) == Problem(
        f"{a}, {b}", message="no manifests in the 2 YAML files found"
    )


def test_the_same_file_given_twice_is_read_once(repo: Path) -> None:
    path = write(repo, "a.yaml", SESSION)
    loaded = loads([path, path, repo, Path(os.path.relpath(path))])
    assert loaded.files == (str(path),)
    assert len(loaded.manifests) == 1


def test_the_current_folder_is_read_when_no_path_is_given(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(repo, "sessions/a.yaml", SESSION)
    write(repo, "reconciler.yaml", "state: x.db\n")
    monkeypatch.chdir(repo)
    loaded = load()
    assert loaded.files == (os.path.join(".", "sessions", "a.yaml"),)
    assert loaded.config_path == "reconciler.yaml"
    assert loaded.config.state == "x.db"


def test_a_config_found_above_an_absolute_path_is_shown_as_an_absolute_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clinic = tmp_path / "clinic"
    (clinic / ".git").mkdir(parents=True)
    config = write(clinic, "reconciler.yaml", "state: x.db\n")
    write(clinic, "sessions/a.yaml", SESSION)
    elsewhere = tmp_path / "home" / "me" / "work"
    elsewhere.mkdir(parents=True)
    monkeypatch.chdir(elsewhere)
    loaded = loads([clinic / "sessions"])
    assert loaded.config_path == str(config)
