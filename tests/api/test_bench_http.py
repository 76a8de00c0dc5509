"""The HTTP benchmark keeps working (a one-second smoke run; the figures are in
docs/performance.md, measured with `stele bench --http 10`)."""

from __future__ import annotations

import pytest

from ledger.bench.http import run_http_bench
from ledger.config import Settings

pytestmark = pytest.mark.slow


def test_http_bench_smoke(settings: Settings) -> None:
    if settings.database.kind != "sqlite":
        pytest.skip("one backend is enough for a smoke run")
    result = run_http_bench(settings, seconds=1, clients=2)
    for workload in ("single", "batch"):
        assert result[workload]["errors"] == 0
        assert result[workload]["events"] > 0
        assert result[workload]["ack_to_checkpoint"]["samples"] > 0
