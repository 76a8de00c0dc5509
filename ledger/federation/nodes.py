"""Three regional nodes on loopback that witness each other: what `stele federation demo`
starts, and what the federation tests run.

Each node (`north`, `central`, `south`) has its own data directory, log key, witness key and
store (a SQLite file, or a PostgreSQL schema of its own), runs `stele serve` with its witness
on, cosigns the other two logs, and submits its own checkpoints to the other two witnesses.

The quorum of each log is both other regions (`group others all ...`): its own witness does
not count, since the operator who could fork the log holds that key too. With both others
required, any two cosigned views of a log share an honest witness, so a split view needs a
second region's operator to collude; the price is that while one region is down the other two
publish no newer cosigned checkpoint (writes go on; `stele log status` shows the lag), which
docs/decisions.md weighs.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding

from domain.envelope import Actor
from ledger.config import Settings, parse_database_url
from ledger.dev.tsa import load_or_create
from ledger.log.keys import WITNESS_KEY_FILE, LogKey
from ledger.service import Ledger
from verifiers.certs import fingerprint

# What a client sees of a node that is down or died mid-answer (a test killed it).
_DOWN = (RuntimeError, OSError, http.client.HTTPException)

REGIONS = ("north", "central", "south")
COMMITTEE = Actor("federation-setup", "committee", "000.00.00.B01")
AGENCIES = {"north": "000.00.01.G01", "central": "000.00.02.G01", "south": "000.00.03.G01"}


@dataclass
class Node:
    region: str
    port: int
    data_dir: Path
    database: str  # URL
    origin: str
    witness_name: str
    log_vkey: str = ""
    witness_vkey: str = ""
    token: str = ""
    agency: str = ""
    extra_env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    base_url: str | None = None  # how the other nodes reach it (default: loopback and port)

    @property
    def url(self) -> str:
        return self.base_url or f"http://127.0.0.1:{self.port}"

    @property
    def policy(self) -> Path:
        return self.data_dir / "witness-policy.txt"

    @property
    def witnessed_logs(self) -> Path:
        return self.data_dir / "witnessed-logs.txt"

    @property
    def peer_logs(self) -> Path:
        return self.data_dir / "peer-logs.txt"

    def env(self) -> dict[str, str]:
        return dict(os.environ, STELE_DATA_DIR=str(self.data_dir),
                    STELE_DATABASE_URL=self.database, STELE_LOG_ORIGIN=self.origin,
                    STELE_WITNESS="on", STELE_WITNESS_NAME=self.witness_name,
                    STELE_WITNESS_LOGS=str(self.witnessed_logs),
                    STELE_WITNESS_POLICY=str(self.policy), STELE_PEER_LOGS=str(self.peer_logs),
                    STELE_ENV="dev",
                    STELE_RATE_LIMIT="off", **self.extra_env)

    def settings(self) -> Settings:
        saved = os.environ.copy()
        try:
            os.environ.update(self.env())
            return Settings.from_env()
        finally:
            os.environ.clear()
            os.environ.update(saved)

    def start(self, *, wait: float = 60.0) -> None:
        self.launch()
        self.ready(wait=wait)

    def launch(self) -> None:
        """Start `stele serve` (see `ready`)."""
        with open(self.data_dir / "serve.log", "ab") as log:  # the child has its own copy
            self.process = subprocess.Popen(
                [sys.executable, "-m", "api.cli", "serve", "--port", str(self.port)],
                env=self.env(), stdout=log, stderr=log, start_new_session=True)

    def ready(self, *, wait: float = 60.0) -> None:
        """Wait until the node answers /readyz (RuntimeError if it exits or takes longer)."""
        assert self.process is not None
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.region} exited: see {self.data_dir / 'serve.log'}")
            try:
                with _open(urllib.request.Request(self.url + "/readyz"), 1) as answer:  # noqa: S310
                    if answer.status == 200:
                        return
            except _DOWN:
                time.sleep(0.1)
        raise RuntimeError(f"{self.region} did not become ready in {wait} s")

    def stop(self, *, kill: bool = False) -> None:
        """SIGTERM (a clean stop) or, with `kill`, SIGKILL to the node's whole process group."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGKILL if kill else signal.SIGTERM)
        self.process.wait(timeout=60)

    def call(self, method: str, path: str, body: Any = None, *,
             token: str | None = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode("utf-8")
        headers = {"Content-Type": "application/json"}
        if token or self.token:
            headers["Authorization"] = f"Bearer {token or self.token}"
        if method == "POST":
            headers["Idempotency-Key"] = secrets.token_hex(8)
        request = urllib.request.Request(self.url + path, data=data, method=method,  # noqa: S310
                                         headers=headers)
        try:
            with _open(request) as answer:
                raw = answer.read()
                status = answer.status
        except urllib.error.HTTPError as exc:
            raw, status = exc.read(), exc.code
        kind = "json" if raw[:1] in (b"{", b"[") else "text"
        return status, json.loads(raw) if kind == "json" else raw.decode("utf-8", "replace")

    def write(self, count: int, *, run: str) -> list[str]:
        """Register `count` records through the API (one request each); their ids."""
        status, content = self._upload(f"{self.region} {run}".encode())
        if status != 201:
            raise RuntimeError(f"{self.region}: upload answered {status}: {content}")
        ids = []
        for n in range(count):
            status, answer = self.call("POST", "/v1/records", {
                "metadata": {
                    "doc_type": "Công văn", "number": str(n + 1),
                    "notation": f"{n + 1}/{self.region.upper()}-{run}", "issued": "2026-01-05",
                    "issuer": self.agency, "subject": f"Federation {self.region} {run}",
                    "language": "vi", "pages": 1, "access": "open",
                    "reliability": "born_digital"},
                "retention": 10, "schedule": "B",
                "content": {"digest": content["digest"], "size": content["size"],
                            "media_type": "text/plain"}})
            if status != 201:
                raise RuntimeError(f"{self.region}: create answered {status}: {answer}")
            ids.append(answer["events"][0]["record"])
        return ids

    def _upload(self, data: bytes) -> tuple[int, Any]:
        request = urllib.request.Request(  # noqa: S310 (an http URL this module made)
            self.url + "/v1/content", data=data, method="POST",
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "text/plain"})
        try:
            with _open(request) as answer:
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode("utf-8", "replace")

    def status(self) -> dict[str, Any]:
        code, answer = self.call("GET", "/v1/log/status")
        if code != 200:
            raise RuntimeError(f"{self.region}: status answered {code}")
        return dict(answer)


def _open(request: urllib.request.Request, timeout: float = 30.0) -> Any:
    """Open `request`: always an http://127.0.0.1 URL of a node this module started."""
    return urllib.request.urlopen(request, timeout=timeout)  # noqa: S310


class Federation:
    """`root` holds a directory per node and the three policies (`policies/<region>.txt`)."""

    def __init__(self, root: Path, *, ports: dict[str, int], database: str | None = None,
                 checkpoint_interval: float = 0.5, domain: str = "localhost",
                 urls: dict[str, str] | None = None) -> None:
        self.root = root
        self.database = database
        self.nodes: dict[str, Node] = {}
        for region in REGIONS:
            directory = root / region
            self.nodes[region] = Node(
                region=region, port=ports[region], data_dir=directory,
                database=self._database(region, directory),
                origin=f"{region}.{domain}/log", witness_name=f"{region}.{domain}/witness",
                agency=AGENCIES[region], base_url=(urls or {}).get(region),
                # A short lease: a node killed and restarted takes its own anchoring and
                # witnessing leases back within seconds (the default waits two minutes).
                extra_env={"STELE_CHECKPOINT_INTERVAL": str(checkpoint_interval),
                           "STELE_LEASE_SECONDS": "5"})

    def _database(self, region: str, directory: Path) -> str:
        if self.database is None:
            return f"sqlite:///{directory / 'ledger.sqlite3'}"
        parsed = parse_database_url(self.database, directory)
        return replace(parsed, schema=f"{parsed.schema}_{region}").connect_url()

    def policy(self, region: str) -> Path:
        return self.root / "policies" / f"{region}.txt"

    def prepare(self) -> None:
        """Keys, policies, the witnesses' log lists, and an agency principal per node."""
        for node in self.nodes.values():
            node.data_dir.mkdir(parents=True, exist_ok=True)
            node.log_vkey = LogKey.load_or_create(node.data_dir, node.origin).verifier
            node.witness_vkey = LogKey.load_or_create(node.data_dir, node.witness_name,
                                                      WITNESS_KEY_FILE).cosigner
        (self.root / "policies").mkdir(exist_ok=True)
        for node in self.nodes.values():
            others = [n for n in self.nodes.values() if n is not node]
            text = (f"# The witness policy of {node.origin}: both other regions must cosign.\n"
                    f"log {node.log_vkey} {node.url}\n"
                    + "".join(f"witness {o.region} {o.witness_vkey} {o.url}\n" for o in others)
                    + f"group others all {' '.join(o.region for o in others)}\n"
                    + "quorum others\n")
            self.policy(node.region).write_text(text, "utf-8")
            node.policy.write_text(text, "utf-8")
            node.witnessed_logs.write_text(
                f"# The logs the witness {node.witness_name} cosigns.\n"
                + "".join(f"log {o.log_vkey} {o.url}\n" for o in others), "utf-8")
            node.peer_logs.write_text(
                f"# The logs {node.origin} sends transfers to and takes them from.\n"
                + "".join(f"log {o.log_vkey} {o.url}\n" for o in others), "utf-8")
        tsa_roots = {r: load_or_create(n.data_dir / "tsa").root.public_bytes(Encoding.DER)
                     for r, n in self.nodes.items()}
        for node in self.nodes.values():
            with Ledger(node.settings()) as ledger:
                if not node.token:
                    _, node.token = ledger.principals.add(
                        name=f"{node.region} records office", role="agency", agency=node.agency)
                # Development trust: each node's committee trusts the others' built-in TSAs,
                # so that each re-proves what the others anchored (transfers).
                known = {a.fingerprint for a in ledger.trust.anchors()}
                for region, der in tsa_roots.items():
                    if region != node.region and fingerprint(der) not in known:
                        ledger.records.do(COMMITTEE, "trust.register",
                                          pki=f"{region} development TSA",
                                          certificate=base64.b64encode(der).decode(),
                                          purposes=["timestamping"])

    def start(self) -> None:
        for node in self.nodes.values():
            node.launch()
        for node in self.nodes.values():
            node.ready()

    def stop(self, *, kill: bool = False) -> None:
        for node in self.nodes.values():
            node.stop(kill=kill)

    def write_for(self, seconds: float, regions: Sequence[str] | None = None
                  ) -> dict[str, int]:
        """Each region's agency writes records, one per request, for `seconds`, all regions
        at once; how many each wrote. A region whose node stops answering stops writing."""
        counts = dict.fromkeys(regions or self.nodes, 0)
        deadline = time.monotonic() + seconds

        def agency(region: str) -> None:
            node, batch = self.nodes[region], 0
            while time.monotonic() < deadline:
                try:
                    counts[region] += len(node.write(10, run=f"W{batch}"))
                except _DOWN:
                    return  # the node is down (a test killed it)
                batch += 1

        threads = [threading.Thread(target=agency, args=(r,)) for r in counts]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return counts

    def wait_witnessed(self, *, timeout: float, settled: bool = True) -> dict[str, Any]:
        """Wait until every log's latest checkpoint is cosigned by its quorum and covers its
        whole tree (`settled`), or until `timeout`; what each showed last."""
        deadline = time.monotonic() + timeout
        covered: dict[str, Any] = {}
        while time.monotonic() < deadline and len(covered) < len(self.nodes):
            for region, node in self.nodes.items():
                try:
                    status = node.status()
                except _DOWN:
                    continue
                witnessed = (status["witnessing"] or {}).get("witnessed") or {}
                cp = status["checkpoint"] or {}
                if status["tree_size"] == 0 and status["integration_backlog"] == 0:
                    covered[region] = {"size": 0, "cosigners": []}  # nothing to witness
                elif witnessed and (not settled or witnessed["size"] == cp.get("size")
                                  == status["tree_size"]):
                    covered[region] = {"size": witnessed["size"], "cosigners": [
                        w["name"] for w in status["witnessing"]["witnesses"]
                        if w["cosigned_size"] >= witnessed["size"]]}
                else:
                    covered.pop(region, None)
            time.sleep(0.2)
        return covered

    def remove(self) -> None:
        self.stop(kill=True)
        shutil.rmtree(self.root, ignore_errors=True)
