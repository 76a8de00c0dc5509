"""`stele bench`: the ledger against bare eventsourcing, measured in the same run.

Workloads (each on a fresh store of the chosen kind, SQLite or PostgreSQL):
- batched: records registered `batch` per save, integrated into the Merkle log and checkpointed
  every INTEGRATE_EVERY events as they go (one `created` event per record);
- single: one record per save, likewise integrated (a tenth of the events);
- the same two workloads through bare eventsourcing (an aggregate with the same fields, the
  default mapper, no hashing, no log): the baseline.
Each workload runs in `rounds` interleaved rounds; rates are medians over rounds. Then proof
generation at the final size (and, with `proof_leaves`, at a synthetic tree of that many
leaves), and the audit rate. Every record shares one content blob: content upload is its own
endpoint and not part of the lifecycle write path.

Tiles: events written in chunks of a checkpoint's worth (CHECKPOINT_EVERY), each chunk
integrated and checkpointed (timed): first with no tiles written, then with a thread
publishing them alongside as the log worker does; the ratio of the two rates, and the cost of
publishing those checkpoints at once; then `audit_tiles` over the directory, the rate an
auditor gets with no database.
"""

from __future__ import annotations

import multiprocessing
import os
import platform
import secrets
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate

from domain.envelope import Actor
from ledger.config import Database, Settings
from ledger.log.tiles import follow
from ledger.log.tree import consistency_proof, inclusion_proof
from ledger.records import Command
from ledger.service import Ledger
from ledger.store.tables import LogStore
from verifiers.merkle import CompactRange
from verifiers.tiles import audit_tiles, directory_fetch

ACTOR = Actor("bench", "agency", "000.00.00.G01")
INTEGRATE_EVERY = 10_000  # events between integrator runs (a server integrates its backlog)
CHECKPOINT_EVERY = 1_000  # the server's default: a checkpoint (and a publication) per 1,000


class BareRecord(Aggregate):
    """The baseline: the same data as a `created` event, without Stele's integrity layer."""

    class Created(Aggregate.Created):
        actor: dict[str, str]
        metadata: dict[str, Any]
        retention: int
        schedule: str
        content: dict[str, Any]
        custodian: str

    def __init__(self, actor: dict[str, str], metadata: dict[str, Any], retention: int,
                 schedule: str, content: dict[str, Any], custodian: str) -> None:
        self.metadata = metadata


class BareApplication(Application[Any]):
    is_snapshotting_enabled = False


def _metadata(run: str, i: int) -> dict[str, Any]:
    return {
        "doc_type": "Công văn", "number": str(i), "notation": f"{i}/CV-{run}",
        "issued": "2024-05-02", "issuer": ACTOR.agency, "subject": f"Bench document {i}",
        "language": "vi", "pages": 2, "access": "open", "reliability": "born_digital",
    }


@contextmanager
def fresh_database(base: Database, label: str) -> Iterator[tuple[Database, Path]]:
    """A scratch database of the same kind: a temp SQLite file, or a new PostgreSQL schema."""
    scratch = Path(tempfile.mkdtemp(prefix=f"stele-bench-{label}-"))
    try:
        if base.kind == "sqlite":
            yield Database(kind="sqlite", path=scratch / "bench.sqlite3"), scratch
        else:
            schema = f"stele_bench_{label}_{secrets.token_hex(4)}"
            with psycopg.connect(base.conninfo(), autocommit=True) as conn:
                conn.execute(f'CREATE SCHEMA "{schema}"')
            try:
                yield replace(base, schema=schema), scratch
            finally:
                with psycopg.connect(base.conninfo(), autocommit=True) as conn:
                    conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _rate(events: int, seconds: float) -> float:
    return round(events / seconds, 1) if seconds > 0 else float("inf")


def _ours(ledger: Ledger, run: str, start: int, count: int, per_save: int,
          integrate_every: int, digest: str) -> float:
    """Register `count` records `per_save` at a time, integrate and checkpoint as we go."""
    content = {"digest": digest, "size": 5, "media_type": "text/plain"}
    began = time.perf_counter()
    since = 0
    for first in range(start, start + count, per_save):
        commands = [
            Command("record.create", {"metadata": _metadata(run, i), "retention": 10,
                                      "schedule": "bench", "content": content})
            for i in range(first, min(first + per_save, start + count))
        ]
        ledger.records.execute(ACTOR, commands)
        since += len(commands)
        if since >= integrate_every:
            ledger.log.integrate()
            ledger.log.checkpoint()
            since = 0
    ledger.log.integrate()
    ledger.log.checkpoint(force=True)
    return time.perf_counter() - began


def _integrate_chunks(ledger: Ledger, run: str, start: int, count: int,
                      digest: str) -> float:
    """Seconds spent integrating and checkpointing `count` new events, a checkpoint's worth
    (CHECKPOINT_EVERY) at a time (the writes themselves untimed)."""
    content = {"digest": digest, "size": 5, "media_type": "text/plain"}
    seconds = 0.0
    for first in range(start, start + count, CHECKPOINT_EVERY):
        ledger.records.execute(ACTOR, [
            Command("record.create", {"metadata": _metadata(run, i), "retention": 10,
                                      "schedule": "bench", "content": content})
            for i in range(first, min(first + CHECKPOINT_EVERY, start + count))])
        began = time.perf_counter()
        ledger.log.integrate()
        ledger.log.checkpoint(force=True, publish=False)
        seconds += time.perf_counter() - began
    return seconds


def _tiles(ledger: Ledger, run: str, start: int, count: int, digest: str) -> dict[str, Any]:
    """Integration without tiles, then with a publisher thread writing them alongside (as the
    log worker runs it); the cost of one publication per checkpoint; the tiles audit."""
    half = count // 2
    ledger.log.publish()  # the directory up to date: what follows is new
    alone = _integrate_chunks(ledger, run, start, half, digest)
    direct = time.perf_counter()
    ledger.log.publish()  # what those checkpoints cost to publish, one by one if synchronous
    direct = time.perf_counter() - direct
    ctx = multiprocessing.get_context("spawn")
    stop, ready = ctx.Event(), ctx.Event()
    publisher = ctx.Process(target=follow, name="bench-tiles", args=(
        ledger.settings.database, ledger.settings.tiles_dir, 0.1, stop, os.getpid(), ready))
    publisher.start()
    ready.wait(60)  # its start-up (imports) is not integration's to pay
    try:
        alongside = _integrate_chunks(ledger, run, start + half, half, digest)
    finally:
        stop.set()
        publisher.join(60)
    began = time.perf_counter()
    audited = audit_tiles(directory_fetch(ledger.settings.tiles_dir), ledger.key.verifier)
    auditing = time.perf_counter() - began
    size = ledger.log.size()
    return {
        "events": 2 * half, "checkpoint_every": CHECKPOINT_EVERY,
        "integration_events_per_second": {"without_tiles": _rate(half, alone),
                                          "with_tiles_published_alongside":
                                              _rate(half, alongside)},
        "integration_with_tiles_vs_without": round(alone / alongside, 3),
        "publish_us_per_event_at_one_publication": round(direct / half * 1e6, 1),
        "audit_tiles": {"verdict": audited.bottom_line.value, "entries": size,
                        "entries_per_second": _rate(size, auditing)},
    }


def _bare(app: BareApplication, run: str, start: int, count: int, per_save: int) -> float:
    content = {"digest": "sha-256:" + "0" * 64, "size": 5, "media_type": "text/plain"}
    began = time.perf_counter()
    for first in range(start, start + count, per_save):
        aggregates = [
            BareRecord(actor=ACTOR.as_dict(), metadata=_metadata(run, i), retention=10,
                       schedule="bench", content=content, custodian=ACTOR.agency)
            for i in range(first, min(first + per_save, start + count))
        ]
        app.save(*aggregates)
    return time.perf_counter() - began


def _median_ms(fn: Callable[[], object], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        began = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - began) * 1000)
    return round(statistics.median(samples), 3)


def _proofs(store: LogStore, size: int, repeat: int) -> dict[str, float]:
    rng = secrets.SystemRandom()
    with store.transaction() as tx:
        return {
            "inclusion_ms_median": _median_ms(
                lambda: inclusion_proof(tx, rng.randrange(size), size), repeat),
            "consistency_ms_median": _median_ms(
                lambda: consistency_proof(tx, rng.randrange(1, size), size), repeat),
        }


def _synthetic_tree(store: LogStore, leaves: int) -> float:
    """Fill a scratch log with `leaves` synthetic leaf hashes (no events) for proof timing."""
    began = time.perf_counter()
    edge = CompactRange()
    chunk = 50_000
    for first in range(0, leaves, chunk):
        rows: list[tuple[int, int, bytes]] = []
        nodes: list[tuple[int, int, bytes]] = []
        for i in range(first, min(first + chunk, leaves)):
            for level, index, node in edge.append(i.to_bytes(32, "big")):
                if level == 0:
                    rows.append((index, i + 1, node))
                else:
                    nodes.append((level, index, node))
        with store.transaction(exclusive=True) as tx:
            tx.append(rows, nodes)
    return time.perf_counter() - began


def run_bench(settings: Settings, *, events: int, batch: int, quick: bool,
              proof_leaves: int = 0) -> dict[str, Any]:
    rounds = 1 if quick else 3
    single_events = max(events // 10, rounds * 10)
    run = secrets.token_hex(3).upper()
    results: dict[str, Any] = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "platform": platform.platform()},
        "database": settings.database.kind,
        "events": events, "single_events": single_events, "batch": batch, "rounds": rounds,
        "started": datetime.now(UTC).isoformat(),
    }
    with fresh_database(settings.database, "ours") as (ours_db, ours_dir), \
            fresh_database(settings.database, "bare") as (bare_db, _):
        ledger = Ledger(replace(settings, data_dir=ours_dir, database=ours_db, dev=True))
        bare = BareApplication(env=bare_db.eventsourcing_env())
        digest = ledger.records.put_content(b"bench", agency=ACTOR.agency)
        rates: dict[str, list[float]] = {k: [] for k in
                                         ("ours_batched", "bare_batched", "ours_single",
                                          "bare_single")}
        per_round, single_per_round = events // rounds, single_events // rounds
        offset = 0
        for _ in range(rounds):
            # Interleave baseline and ours within each round, so machine noise hits both.
            rates["bare_batched"].append(
                _rate(per_round, _bare(bare, run, offset, per_round, batch)))
            rates["ours_batched"].append(_rate(
                per_round, _ours(ledger, run, offset, per_round, batch, INTEGRATE_EVERY,
                                 digest)))
            offset += per_round
            rates["bare_single"].append(
                _rate(single_per_round, _bare(bare, run, offset, single_per_round, 1)))
            rates["ours_single"].append(_rate(
                single_per_round, _ours(ledger, run, offset, single_per_round, 1,
                                        INTEGRATE_EVERY, digest)))
            offset += single_per_round
        medians = {k: statistics.median(v) for k, v in rates.items()}
        results["events_per_second"] = {k: {"median": medians[k], "rounds": v}
                                        for k, v in rates.items()}
        results["ratios"] = {
            "batched_vs_bare": round(medians["ours_batched"] / medians["bare_batched"], 3),
            "single_vs_bare": round(medians["ours_single"] / medians["bare_single"], 3),
        }
        size = ledger.log.size()
        results["log_size"] = size
        results["proofs_at_final_size"] = _proofs(ledger.store, size, 50 if quick else 200)
        audited = ledger.log.audit()
        results["audit"] = {"verdict": audited.bottom_line.value,
                            "events_per_second": audited.summary["events_per_second"],
                            "seconds": audited.summary["seconds"]}
        results["tiles"] = _tiles(ledger, run, offset, max(events // 2, CHECKPOINT_EVERY),
                                  digest)
        ledger.close()
        bare.close()
    if proof_leaves:
        with fresh_database(settings.database, "proof") as (proof_db, _):
            store = LogStore(proof_db)
            store.create_tables()
            seconds = _synthetic_tree(store, proof_leaves)
            results["proofs_at_synthetic_size"] = {
                "leaves": proof_leaves, "build_seconds": round(seconds, 1),
                **_proofs(store, proof_leaves, 200)}
            store.close()
    return results
