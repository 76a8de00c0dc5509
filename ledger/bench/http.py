"""`stele bench --http`: lifecycle events through the HTTP API, 8 concurrent clients.

Starts `stele serve` as a child process on a free loopback port with a fresh store (a temp
SQLite file, or a new PostgreSQL schema), then for each workload runs the clients for a fixed
time: `single` (one `record.create` per request) and `batch` (`/v1/batch` of 100 creates).
Reports events/s, request latency p50/p99, and the time from a write's acknowledgement to its
inclusion in a signed checkpoint (p50/p99), found by polling `/v1/log/status` every 20 ms.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import replace
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


def run_http_bench(settings: Settings, *, seconds: float, clients: int = 8) -> dict[str, Any]:
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
               STELE_ENV="dev")
    server = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "serve", "--port", str(port)], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if httpx2.get(base + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx2.HTTPError:
                time.sleep(0.1)
        results: dict[str, Any] = {"database": settings.database.kind, "clients": clients,
                                   "seconds": seconds}
        run = secrets.token_hex(3).upper()
        for name, batch in (("single", 1), ("batch", 100)):
            measured = _workload(base, token, digest, batch=batch, clients=clients,
                                 seconds=seconds, run=f"{run}{name[0].upper()}")
            acks, checkpoints = measured.pop("acks"), measured.pop("checkpoints")
            measured["ack_to_checkpoint"] = _to_checkpoint(local, acks, checkpoints)
            results[name] = measured
        return results
    finally:
        server.terminate()
        server.wait(timeout=60)
        shutil.rmtree(scratch, ignore_errors=True)
        if schema is not None:
            with psycopg.connect(settings.database.conninfo(), autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
