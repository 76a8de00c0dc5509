"""The HTTP benchmark keeps working (one-second smoke runs; the figures are in
docs/performance.md, measured with `stele bench --http 10`): the Python clients, and wrk
through its script, whose output must parse and whose log must audit."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ledger.bench.http import run_http_bench
from ledger.config import Settings
from tests.conftest import database_url

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def test_http_bench_smoke(settings: Settings) -> None:
    if settings.database.kind != "sqlite":
        pytest.skip("one backend is enough for a smoke run")
    result = run_http_bench(settings, seconds=1, clients=2)
    for workload in ("single", "batch"):
        assert result[workload]["errors"] == 0
        assert result[workload]["events"] > 0
        assert result[workload]["ack_to_checkpoint"]["samples"] > 0


def test_wrk_bench_smoke(settings: Settings) -> None:
    """`stele bench --http` with wrk, as a user runs it: the JSON it prints, on both stores."""
    if shutil.which("wrk") is None:
        if os.environ.get("STELE_REQUIRE_WRK") == "1":
            pytest.fail("wrk is required (apt-get install wrk)")
        pytest.skip("wrk is not installed")
    done = subprocess.run(
        [sys.executable, "-m", "api.cli", "bench", "--http", "1", "--connections", "1,4",
         "--db", database_url(settings.database)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
        env=dict(os.environ, STELE_DATA_DIR=str(settings.data_dir), PYTHONPATH=str(ROOT)))
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    for workload in ("single", "batch"):
        assert [r["connections"] for r in result[workload]] == [1, 4]
        for run in result[workload]:
            assert run["errors"] == 0 and run["acknowledged_events"] > 0
            assert 0 < run["latency_ms"]["p50"] <= run["latency_ms"]["p99"]
    assert result["log"]["audit"] == "PASSED"
    assert result["log"]["every_acknowledged_event_once"] is True
