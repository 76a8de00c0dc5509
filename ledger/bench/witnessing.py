"""`stele bench --witnessing SECONDS`: the cost of witnessing, measured on a real federation.

Three `stele serve` nodes on loopback witnessing each other (ledger/federation/nodes.py), and
in the same run a fourth node without witnesses as the baseline:
- writes: 4 clients, one `record.create` per request (after uploading its document), to
  north for SECONDS, then to the baseline for SECONDS while the federation idles: the ratio
  is the write-rate cost of witnessing;
- acknowledgement to a quorum-cosigned checkpoint covering the record (p50/p99), from
  polling north's witnessed size every 20 ms;
- cosigning latency per checkpoint and witness (p50/p99), from the log worker's
  `log.cosigned` lines (one add-checkpoint round trip, proof included);
- witness throughput: add-checkpoint calls answered per second by one witness, 4 clients
  resubmitting the checkpoint it holds (every check and a cosignature each time).
"""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import replace
from pathlib import Path
from typing import Any

from ledger.bench.http import free_port
from ledger.config import Settings
from ledger.federation.nodes import REGIONS, Federation, Node
from ledger.service import Ledger
from verifiers.witness import format_add_checkpoint


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1) if ordered else 0.0


def _writes(node: Node, seconds: float, clients: int = 4) -> tuple[float, list[tuple[float, str]]]:
    acks: list[tuple[float, str]] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client(n: int) -> None:
        batch = 0
        while time.monotonic() < deadline:
            ids = node.write(1, run=f"C{n}B{batch}")
            with lock:
                acks.append((time.monotonic(), ids[0]))
            batch += 1

    began = time.monotonic()
    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return len(acks) / (time.monotonic() - began), acks


def _held(witness: Node, origin: str) -> bytes:
    """A request resubmitting the checkpoint `witness` holds for `origin` (answered 200)."""
    _, answer = witness.call("GET", f"/v1/witness/cosigned?origin={origin}")
    held = answer["cosigned"][-1]
    note = held["note"]
    return format_add_checkpoint(held["size"], [], note[:note.rindex("\u2014 ")])


def _witness_rate(witness: Node, origin: str, seconds: float, clients: int = 4) -> float:
    """Cosignatures answered per second (a 409, the head having moved, is not counted)."""
    body = [_held(witness, origin)]
    calls = [0]
    deadline = time.monotonic() + seconds

    def client() -> None:
        while time.monotonic() < deadline:
            request = urllib.request.Request(witness.url + "/add-checkpoint", data=body[0],  # noqa: S310
                                             method="POST")
            try:
                with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                    response.read()
                calls[0] += 1
            except urllib.error.HTTPError as exc:
                exc.close()
                body[0] = _held(witness, origin)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return calls[0] / seconds


def run_witnessing_bench(settings: Settings, *, seconds: float) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="stele-witness-bench-"))
    fed = Federation(root / "federation", ports={r: free_port() for r in REGIONS},
                     checkpoint_interval=0.2)
    fed.prepare()
    north = fed.nodes["north"]
    plain = replace(north, region="plain", port=free_port(), data_dir=root / "plain",
                    database=f"sqlite:///{root / 'plain' / 'ledger.sqlite3'}",
                    origin="plain.localhost/log", token="", process=None, base_url=None)
    plain.data_dir.mkdir()
    fed.start()
    try:
        witnessed: list[tuple[float, int]] = []
        stop = threading.Event()

        def poll() -> None:
            while not stop.is_set():
                size = ((north.status()["witnessing"] or {}).get("witnessed") or {}).get("size", 0)
                if not witnessed or witnessed[-1][1] != size:
                    witnessed.append((time.monotonic(), size))
                stop.wait(0.02)

        poller = threading.Thread(target=poll)
        poller.start()
        rate, acks = _writes(north, seconds)
        fed.wait_witnessed(timeout=60)
        stop.set()
        poller.join()
        with Ledger(north.settings()) as ledger:
            delays = []
            for acked, record in acks:
                leaf = ledger.records.leaf_indexes(record)[0]
                covered = next((t for t, size in witnessed if leaf is not None and size > leaf),
                               None)
                if covered is not None:
                    delays.append(max(0.0, covered - acked) * 1000)
        cosign = [json.loads(line)["seconds"] * 1000
                  for line in (north.data_dir / "serve.log").read_text().splitlines()
                  if '"log.cosigned"' in line]
        witness_rate = _witness_rate(fed.nodes["central"], north.origin, min(seconds, 5.0))
        # The baseline: a node without witnesses, written to while the three nodes run (idle),
        # so both figures share the machine's load.
        env = {k: v for k, v in plain.env().items() if not k.startswith("STELE_WITNESS")}
        plain.env = lambda: env  # type: ignore[method-assign]
        with Ledger(plain.settings()) as ledger:
            _, plain.token = ledger.principals.add(name="bench", role="agency",
                                                   agency=plain.agency)
        plain.start()
        try:
            plain_rate, _ = _writes(plain, seconds)
        finally:
            plain.stop()
        return {
            "seconds": seconds, "clients": 4,
            "writes_per_second": {"witnessed": round(rate, 1), "no_witnesses": round(plain_rate, 1),
                                  "ratio": round(rate / plain_rate, 3)},
            "ack_to_witnessed_ms": {"p50": _pct(delays, 0.5), "p99": _pct(delays, 0.99),
                                    "samples": len(delays)},
            "cosigning_ms": {"p50": _pct(cosign, 0.5), "p99": _pct(cosign, 0.99),
                             "samples": len(cosign)},
            "witness_add_checkpoint_per_second": round(witness_rate, 1),
        }
    finally:
        fed.stop(kill=True)
        plain.stop(kill=True)
        shutil.rmtree(root, ignore_errors=True)
