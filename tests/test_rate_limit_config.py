"""reconciler.yaml's `rate_limit`: what the vendor allows, with the defaults filled in."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler import engine
from reconciler.cli import main
from reconciler.clients import RateLimit, Urls
from reconciler.manifests import RateLimitSettings


@pytest.mark.parametrize(
    ("settings", "parallelism", "expected"),
    [
        (RateLimitSettings(), 1, RateLimit(per_second=10, burst=10, in_flight=8)),
        (RateLimitSettings(), 16, RateLimit(per_second=10, burst=10, in_flight=16)),
        (RateLimitSettings(in_flight=4), 16, RateLimit(per_second=10, burst=10, in_flight=4)),
        (RateLimitSettings(per_second=0.5), 1, RateLimit(per_second=0.5, burst=1, in_flight=8)),
        (
            RateLimitSettings(per_second=50, burst=5),
            1,
            RateLimit(per_second=50, burst=5, in_flight=8),
        ),
    ],
)
def test_unset_values_keep_the_defaults_and_apply_parallelism_opens_as_many_calls(
    settings: RateLimitSettings, parallelism: int, expected: RateLimit
) -> None:
    assert engine.rate_limit(settings, parallelism) == expected


def test_the_targets_carry_the_rate_limit_of_reconciler_yaml(tmp_path: Path) -> None:
    (tmp_path / "reconciler.yaml").write_text("rate_limit:\n  per_second: 50\n")
    targets = engine.targets_for([tmp_path], flags=Urls(), environ={})
    assert targets.rate_limit == RateLimit(per_second=50, burst=50, in_flight=8)


def test_a_rate_limit_that_cannot_be_is_refused_with_its_place(tmp_path: Path) -> None:
    (tmp_path / "reconciler.yaml").write_text("rate_limit:\n  per_second: 0\n  burst: x\n")
    (tmp_path / "s.yaml").write_text("")
    run = CliRunner().invoke(main, ["validate", str(tmp_path)])
    assert run.exit_code == 1
    assert f"{tmp_path / 'reconciler.yaml'}:2:3: rate_limit.per_second" in run.output
    assert f"{tmp_path / 'reconciler.yaml'}:3:3: rate_limit.burst" in run.output
    assert "Traceback" not in run.output
