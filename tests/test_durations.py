"""Durations as people write them."""

from __future__ import annotations

from datetime import timedelta

import pytest

from reconciler.durations import DurationError, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", timedelta(minutes=30)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("2d", timedelta(days=2)),
        ("90s", timedelta(seconds=90)),
        ("90", timedelta(seconds=90)),
        ("PT30M", timedelta(minutes=30)),
        ("pt1h30m", timedelta(hours=1, minutes=30)),
        ("P1DT2H", timedelta(days=1, hours=2)),
        ("-1h", timedelta(hours=-1)),
    ],
)
def test_durations_are_read_in_short_and_iso_forms(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "h", "1x", "P", "PT", "1h30", "thirty minutes", "1.5h"])
def test_non_durations_are_refused(text: str) -> None:
    with pytest.raises(DurationError):
        parse_duration(text)
