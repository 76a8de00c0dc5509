"""`stele bench --http`: lifecycle events through the HTTP API of a real `stele serve`.

Starts `stele serve` as a child process on a free loopback port with a fresh store (a temp
SQLite file, or a new PostgreSQL schema). Two drivers:

- `wrk` (Debian's, a load generator in C, outside our interpreter; `wrk_create.lua` makes every
  request a distinct `record.create` with a fresh Idempotency-Key): for each number of
  connections, `single` (one create per request) and `batch` (`/v1/batch` of 100), reporting
  events/s, latency p50/p90/p99/p99.9 and errors; after the runs the server is stopped (it
  integrates and checkpoints everything) and the log audited: every acknowledged event must be
  in it exactly once.
- the Python clients (8 threads, httpx), which also time each write's acknowledgement to its
  inclusion in a signed checkpoint (p50/p99), found by polling `/v1/log/status` every 20 ms.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx2
import psycopg

from ledger.config import Settings
from ledger.service import Ledger

AGENCY = "000.00.00.G01"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


def _metadata(run: str, n: int) -> dict[str, Any]:
    return {"doc_type": "Công văn", "number": str(n), "notation": f"{n}/HTTP-{run}",
            "issued": "2024-05-02", "issuer": AGENCY, "subject": "HTTP bench", "language": "vi",
            "pages": 1, "access": "open", "reliability": "born_digital"}


def _workload(base: str, token: str, digest: str, *, batch: int, clients: int,
              seconds: float, run: str) -> dict[str, Any]:
    counter = iter(range(10**9))
    lock = threading.Lock()
    latencies: list[float] = []
    acks: list[tuple[float, str]] = []  # (ack time, record id)
    errors = [0]
    deadline = time.monotonic() + seconds
    content = {"digest": digest, "size": 5, "media_type": "text/plain"}
    headers = {"Authorization": f"Bearer {token}"}

    def client() -> None:
        with httpx2.Client(base_url=base, headers=headers, timeout=30) as http:
            while time.monotonic() < deadline:
                with lock:
                    numbers = [next(counter) for _ in range(batch)]
                creates = [{"metadata": _metadata(run, n), "retention": 10, "schedule": "B",
                            "content": content} for n in numbers]
                started = time.monotonic()
                if batch == 1:
                    answer = http.post("/v1/records", json=creates[0],
                                       headers={"Idempotency-Key": secrets.token_hex(8)})
                else:
                    answer = http.post("/v1/batch", json={"actions": [
                        {"action": "record.create", "params": c} for c in creates]},
                        headers={"Idempotency-Key": secrets.token_hex(8)})
                done = time.monotonic()
                with lock:
                    if answer.status_code >= 300:
                        errors[0] += 1
                        continue
                    latencies.append((done - started) * 1000)
                    acks.extend((done, e["record"]) for e in answer.json()["events"])

    checkpoints: list[tuple[float, int]] = []
    stop = threading.Event()

    def poll() -> None:
        with httpx2.Client(base_url=base, timeout=10) as http:
            while not stop.is_set():
                cp = http.get("/v1/log/status").json().get("checkpoint")
                size = cp["size"] if cp else 0
                if not checkpoints or checkpoints[-1][1] != size:
                    checkpoints.append((time.monotonic(), size))
                stop.wait(0.02)

    poller = threading.Thread(target=poll)
    poller.start()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    began = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - began
    # Wait until everything acknowledged is under a checkpoint (or give up after 30 s).
    total = len(acks)
    until = time.monotonic() + 30
    while time.monotonic() < until and (not checkpoints or checkpoints[-1][1] < total):
        time.sleep(0.05)
    stop.set()
    poller.join()
    return {"events": total, "requests": len(latencies), "errors": errors[0],
            "events_per_second": round(total / elapsed, 1),
            "latency_ms": {"p50": _pct(latencies, 0.5), "p99": _pct(latencies, 0.99)},
            "acks": acks, "checkpoints": checkpoints}


def _to_checkpoint(settings: Settings, acks: list[tuple[float, str]],
                   checkpoints: list[tuple[float, int]]) -> dict[str, float]:
    """Seconds from each acknowledgement to the first checkpoint that covers its leaf."""
    with Ledger(settings) as ledger:
        delays = []
        for acked, record in acks[:: max(1, len(acks) // 2000)]:
            leaf = ledger.records.leaf_indexes(record)[0]
            if leaf is None:
                continue
            covered = next((t for t, size in checkpoints if size > leaf), None)
            if covered is not None:
                delays.append(max(0.0, covered - acked) * 1000)
    return {"p50_ms": _pct(delays, 0.5), "p99_ms": _pct(delays, 0.99), "samples": len(delays)}


@dataclass
class _Served:
    base: str  # the server's URL
    token: str  # an agency's
    digest: str  # a document the agency presented
    settings: Settings  # the scratch store's
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        """Stop the server gracefully: it integrates and checkpoints everything written."""
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=120)


@contextlib.contextmanager
def _served(settings: Settings, workers: int = 1) -> Iterator[_Served]:
    """A fresh scratch store served by `stele serve` on loopback, removed on exit."""
    scratch = Path(tempfile.mkdtemp(prefix="stele-http-bench-"))
    schema = None
    database = settings.database
    if database.kind == "postgres":
        schema = f"stele_httpbench_{secrets.token_hex(4)}"
        with psycopg.connect(database.conninfo(), autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        database = replace(database, schema=schema)
    else:
        database = replace(database, path=scratch / "ledger.sqlite3")
    local = replace(settings, data_dir=scratch, database=database, dev=True)  # a scratch ledger
    with Ledger(local) as ledger:
        _, token = ledger.principals.add(name="bench", role="agency", agency=AGENCY)
        digest = ledger.records.put_content(b"bench", agency=AGENCY)
    port = free_port()
    env = dict(os.environ, STELE_DATA_DIR=str(scratch),
               STELE_DATABASE_URL=local.database.connect_url(),
               STELE_LOG_ORIGIN=settings.origin, STELE_CHECKPOINT_INTERVAL="0.2",
               STELE_ENV="dev", STELE_RATE_LIMIT="off")
    server = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "serve", "--port", str(port), "--workers",
         str(workers)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx2.get(base + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx2.HTTPError:
                time.sleep(0.1)
        yield _Served(base, token, digest, local, server)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(timeout=30)
        shutil.rmtree(scratch, ignore_errors=True)
        if schema is not None:
            with psycopg.connect(settings.database.conninfo(), autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _wrk(base: str, token: str, digest: str, *, connections: int, batch: int,
         seconds: float, run: str) -> dict[str, Any]:
    """One wrk run: its figures, from the line its script prints."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("wrk is not installed (apt-get install wrk)")
    threads = max(1, min(2, connections))
    env = dict(os.environ, STELE_TOKEN=token, STELE_DIGEST=digest, STELE_RUN=run,
               STELE_AGENCY=AGENCY, STELE_BATCH=str(batch))
    done = subprocess.run(
        [wrk, "-t", str(threads), "-c", str(connections), "-d", f"{seconds:g}s",
         "--timeout", "30s", "-s", str(Path(__file__).with_name("wrk_create.lua")), base],
        env=env, capture_output=True, text=True, timeout=seconds + 120, check=True)
    line = next(x for x in done.stdout.splitlines() if x.startswith("STELE "))
    raw = json.loads(line.removeprefix("STELE "))
    duration = raw["duration_us"] / 1e6
    return {"connections": connections, "events_per_second":
            round(raw["acknowledged"] * batch / duration, 1),
            "requests_per_second": round(raw["requests"] / duration, 1),
            "latency_ms": {q: round(raw[f"{q}_us"] / 1000, 2)
                           for q in ("p50", "p90", "p99", "p999", "max")},
            "acknowledged_events": raw["acknowledged"] * batch,
            "errors": raw["refused"] + raw["socket_errors"]}


def run_wrk_bench(settings: Settings, *, seconds: float, connections: Sequence[int],
                  workers: int = 1) -> dict[str, Any]:
    """Throughput and latency at each number of connections, single and batched, then the
    log audited: every acknowledged event in it exactly once."""
    results: dict[str, Any] = {"database": settings.database.kind, "driver": "wrk",
                               "workers": workers, "seconds": seconds}
    run = secrets.token_hex(3).upper()
    with _served(settings, workers) as served:
        for name, batch in (("single", 1), ("batch", 100)):
            results[name] = [_wrk(served.base, served.token, served.digest, connections=c,
                                  batch=batch, seconds=seconds,
                                  run=f"{run}{name[0].upper()}{c}")
                             for c in connections]
        served.stop()  # everything written is now integrated and checkpointed
        acknowledged = sum(r["acknowledged_events"] for name in ("single", "batch")
                           for r in results[name])
        with Ledger(served.settings) as ledger:
            report = ledger.log.audit()
            stored = len(ledger.records.list_records(agency=None, kind="record", after=-1,
                                                     limit=1 << 30))
        results["log"] = {
            "audit": report.bottom_line.value, "acknowledged_events": acknowledged,
            "records_in_log": stored,
            # wrk drops the requests in flight when it stops: those may have committed
            "in_flight_at_stop": stored - acknowledged,
            "every_acknowledged_event_once": report.bottom_line.value == "PASSED"
            and acknowledged <= stored <= acknowledged + 100 * sum(connections) * 2}
    return results


def run_http_bench(settings: Settings, *, seconds: float, clients: int = 8) -> dict[str, Any]:
    results: dict[str, Any] = {"database": settings.database.kind, "clients": clients,
                               "seconds": seconds, "driver": "python"}
    with _served(settings) as served:
        run = secrets.token_hex(3).upper()
        for name, batch in (("single", 1), ("batch", 100)):
            measured = _workload(served.base, served.token, served.digest, batch=batch,
                                 clients=clients, seconds=seconds,
                                 run=f"{run}{name[0].upper()}")
            acks, checkpoints = measured.pop("acks"), measured.pop("checkpoints")
            measured["ack_to_checkpoint"] = _to_checkpoint(served.settings, acks,
                                                           checkpoints)
            results[name] = measured
    return results
