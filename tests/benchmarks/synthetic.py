"""Synthetic manifest trees shaped like a clinic network's repository, for benchmarks.

N sessions with 3 participants each, grouped one file per clinic and day, in one
folder per clinic, with a `reconciler.yaml` at the root.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

CLINICS = ("cardiology", "physio", "psychology", "dermatology", "oncology", "paediatrics")
FIRST_DAY = datetime.fromisoformat("2027-02-01T08:00:00+11:00")
SESSIONS_PER_FILE = 40


def session(index: int, clinic: str, first_day: datetime = FIRST_DAY, numbered: int = 0) -> str:
    """One Session document: a host, a patient and a carer, 30 minutes long; 200 a day
    from `first_day`, 40 a clinic's day. Its name's number is `numbered` + `index`."""
    start = first_day + timedelta(days=index // 200, minutes=15 * (index % 40))
    index += numbered
    return f"""apiVersion: reconciler/v1
kind: Session
metadata:
  name: {clinic}-{index:06d}
  labels: {{clinic: {clinic}, site: site-{index % 7}}}
spec:
  session_name: {clinic.title()} consultation {index}
  start_time: {start.isoformat()}
  end_time: {(start + timedelta(minutes=30)).isoformat()}
  picture: https://example.org/rooms/{clinic}.png
  participants:
    - name: clinician
      display_name: Dr. Example {index % 97}
      role: host
      picture: https://example.org/staff/{index % 97}.png
      state: "staff-{index % 97}"
    - name: patient
      display_name: Patient {index}
      role: guest
      state: "booking-{index}"
    - name: carer
      display_name: Carer of patient {index}
      role: guest
"""


def write_tree(
    root: Path,
    sessions: int,
    *,
    first_day: datetime = FIRST_DAY,
    numbered: int = 0,
    config: str = "emulator:\n  clock: 2027-01-01T00:00:00Z\n",
) -> list[Path]:
    """Write `sessions` Session manifests under `root`, the first on `first_day` (their
    names numbered from `numbered`), and `config` as its reconciler.yaml; return the
    manifest files written."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "reconciler.yaml").write_text(config)
    files: list[Path] = []
    for first in range(0, sessions, SESSIONS_PER_FILE):
        indexes = range(first, min(first + SESSIONS_PER_FILE, sessions))
        clinic = CLINICS[(first // SESSIONS_PER_FILE) % len(CLINICS)]
        path = root / clinic / f"batch-{first // SESSIONS_PER_FILE:05d}.yaml"
        path.parent.mkdir(exist_ok=True)
        path.write_text(
            "---\n".join(session(index, clinic, first_day, numbered) for index in indexes)
        )
        files.append(path)
    return files
