"""Several processes at once, and kill -9 mid-burst: no gap, no duplicate, nothing lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ledger.config import Settings
from ledger.service import Ledger
from tests.conftest import database_url
from verifiers.report import Verdict

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _writer(settings: Settings, prefix: str, count: int, every: int = 1) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.ledger.writer", "--db", database_url(settings.database),
         "--data-dir", str(settings.data_dir), "--prefix", prefix, "--count", str(count),
         "--integrate-every", str(every)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT), STELE_LOG_ORIGIN=settings.origin,
                 STELE_ENV="dev"),
    )


def _check_log(settings: Settings, acknowledged: list[str]) -> None:
    with Ledger(settings) as ledger:
        ledger.log.sync()
        report = ledger.log.audit()
        assert report.bottom_line is Verdict.PASSED, [c.line() for c in report.failures]
        with ledger.store.transaction() as tx:
            size, _ = tx.head()
            assert tx.event_count() == size  # every event is a leaf
            nids = [n for _, n, _, _ in tx.leaves(0, size)]
        assert nids == sorted(set(nids))  # each event once, in notification order
        for rid in acknowledged:
            indexes = ledger.records.leaf_indexes(rid)
            assert len(indexes) == 2 and None not in indexes, rid


def test_concurrent_writers_and_integrators(settings: Settings) -> None:
    Ledger(settings).close()  # create tables once, before the processes race
    writers = [_writer(settings, f"P{n}", 30) for n in range(3)]
    acknowledged = []
    for w in writers:
        out, err = w.communicate(timeout=300)
        assert w.returncode == 0, err
        acknowledged += out.split()
    assert len(acknowledged) == 90
    _check_log(settings, acknowledged)


def test_kill_9_mid_burst_loses_nothing_acknowledged(settings: Settings) -> None:
    Ledger(settings).close()
    writer = _writer(settings, "K", 100_000, every=7)
    assert writer.stdout is not None
    acknowledged = []
    deadline = time.monotonic() + 120  # a loaded machine is slow, not wrong: wait for writes
    while len(acknowledged) < 20 and time.monotonic() < deadline:
        line = writer.stdout.readline()
        if not line:
            break
        acknowledged.append(line.strip())
    assert len(acknowledged) == 20, writer.stderr.read() if writer.stderr else ""
    writer.send_signal(signal.SIGKILL)  # mid-burst: the next write is under way
    out, _ = writer.communicate(timeout=60)
    acknowledged += out.split()
    _check_log(settings, acknowledged)


def test_processes_starting_at_once_make_the_tables_once(settings: Settings) -> None:
    """Regression: on PostgreSQL, writers starting together on a fresh schema raced in
    CREATE TABLE and one died with "tuple concurrently updated"."""
    writers = [_writer(settings, f"S{n}", 3) for n in range(4)]
    acknowledged = []
    for w in writers:
        out, err = w.communicate(timeout=300)
        assert w.returncode == 0, err
        acknowledged += out.split()
    _check_log(settings, acknowledged)
