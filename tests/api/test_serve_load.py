"""A bounded load test of the real server: `stele serve` on loopback, stopped with SIGTERM.

CLIENTS threads post lifecycle events (register a document with its uploaded content, place
and release holds) for SECONDS, each POST with an Idempotency-Key. Requests are disturbed on
purpose: some are abandoned on a raw socket (the whole request sent, or half of it, and the
connection closed unread), some get a timeout of a few milliseconds, and some acknowledged
ones are sent again. Every disturbed request is retried with the same key and body until it is
answered. Then the server gets SIGTERM, and we check what the server promises:

- the graceful shutdown exits 0, with everything integrated and under a signed checkpoint;
- `stele audit` passes on the data directory and database the server used;
- every acknowledged event is a leaf of the log exactly once, and the log holds nothing else
  (so no retry wrote twice: a hold placed under one key is placed once);
- a retried or repeated request got the first answer back (`Idempotent-Replayed`);
- the request log names no token and no document content.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import pytest

from ledger.config import Database, Settings
from ledger.service import Ledger
from tests.conftest import database_url, drop_schema, postgres_database
from verifiers.canonical import b64, event_hash

pytestmark = pytest.mark.slow

CLIENTS = 8
SECONDS = 15.0
P_ABANDON = 0.04  # first attempt sent on a raw socket that is closed without reading
P_TINY = 0.06  # first attempt with a timeout of a few milliseconds
P_REPEAT = 0.08  # an acknowledged request sent once more with its key
MAX_ATTEMPTS = 60
TIMEOUT = 30.0


# -- the server ------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    env: dict[str, str]
    stdout: Path
    stderr: Path
    admin_token: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> int:
        """SIGTERM, the graceful way; the exit code."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=90)


def _stele(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "api.cli", *args], env=env,
                          capture_output=True, text=True, timeout=300, check=False)


def _start(env: dict[str, str], tmp: Path) -> Server:
    port = _free_port()
    out, err = tmp / "serve.out", tmp / "serve.err"
    with out.open("wb") as o, err.open("wb") as e:
        process = subprocess.Popen([sys.executable, "-m", "api.cli", "serve", "--port", str(port)],
                                   env=env, stdout=o, stderr=e, cwd=tmp)
    deadline = time.monotonic() + 60
    token = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"serve exited {process.returncode}: {err.read_text()}")
        # First start: serve made an admin and showed its token, once, on stderr.
        lines = err.read_text().splitlines()
        token = token or next((ln.strip() for ln in lines if ln.strip().startswith("stl_")), None)
        try:
            ready = httpx2.get(f"http://127.0.0.1:{port}/readyz", timeout=1)
            if ready.status_code == 200 and token:
                return Server(process, port, env, out, err, token)
        except httpx2.TransportError:
            pass
        time.sleep(0.1)
    process.kill()
    raise AssertionError(f"serve not ready in 60 s: {err.read_text()}")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest,
            tmp_path: Path) -> Iterator[tuple[Settings, dict[str, str]]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STELE_")}
    env.update(STELE_DATA_DIR=str(tmp_path / "data"), PYTHONUNBUFFERED="1", STELE_ENV="dev")
    if request.param == "sqlite":
        database = Database(kind="sqlite", path=tmp_path / "data" / "ledger.sqlite3")
    else:
        database = postgres_database()
        env["STELE_DATABASE_URL"] = database_url(database)
    settings = Settings(data_dir=tmp_path / "data", database=database, dev=True)
    try:
        yield settings, env
    finally:
        if database.kind == "postgres":
            drop_schema(database)


# -- the clients -----------------------------------------------------------------------------
class GaveUpError(Exception):
    pass


@dataclass
class Stats:
    requests: int = 0  # HTTP answers received (every attempt that got one)
    abandoned: int = 0
    timeouts: int = 0
    in_progress: int = 0  # 409 idempotency_in_progress, retried
    server_errors: list[str] = field(default_factory=list)
    replays: int = 0  # answers marked Idempotent-Replayed
    repeats: int = 0  # deliberate second sends of an acknowledged request
    unexpected: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Acked:
    key: str
    path: str
    hold: str | None
    events: tuple[tuple[str, int, str, str], ...]  # (record, version, type, hash)


class Client(threading.Thread):
    def __init__(self, n: int, server: Server, clerk: str, agency: str, inspector: str,
                 stop_at: float) -> None:
        super().__init__(name=f"load-{n}")
        self.n, self.server, self.agency, self.stop_at = n, server, agency, stop_at
        self.clerk, self.inspector = clerk, inspector
        self.rng = random.Random(n)
        self.http = httpx2.Client(base_url=server.url, timeout=TIMEOUT)
        self.stats = Stats()
        self.acked: list[Acked] = []
        self.contents: list[bytes] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._run()
        except BaseException as exc:  # reported by the test
            self.error = exc
        finally:
            self.http.close()

    def _run(self) -> None:
        free: list[str] = []  # records without a hold
        held: list[tuple[str, str]] = []  # (record, hold)
        number = 0
        while time.monotonic() < self.stop_at:
            roll = self.rng.random()
            if held and roll < 0.3:
                record, hold = held.pop(self.rng.randrange(len(held)))
                self._post(f"/v1/records/{record}/holds/release", self.inspector,
                           {"hold": hold, "reason": "kiểm tra xong"}, hold=hold)
                free.append(record)
            elif free and roll < 0.65:
                record = free.pop(self.rng.randrange(len(free)))
                hold = f"H-{uuid.uuid4().hex[:12]}"
                self._post(f"/v1/records/{record}/holds", self.inspector,
                           {"hold": hold, "reason": "thanh tra"}, hold=hold)
                held.append((record, hold))
            else:
                number += 1
                free.append(self._create(number))

    def _create(self, number: int) -> str:
        data = f"load document {self.n}-{number} {uuid.uuid4()}".encode()
        self.contents.append(data)
        upload = self._send("/v1/content", self.clerk, data, "application/octet-stream")
        assert upload.status_code == 201, upload.text
        digest = upload.json()["digest"]
        acked = self._post("/v1/records", self.clerk, {
            "metadata": {"doc_type": "Công văn", "number": str(number),
                         "notation": f"{number}/CV-L{self.n}", "issued": "2010-01-05",
                         "issuer": self.agency, "subject": "Tải thử", "language": "vi",
                         "pages": 1, "access": "open", "reliability": "born_digital"},
            "retention": 10, "schedule": "S-1",
            "content": {"digest": digest, "size": len(data), "media_type": "text/plain"}})
        return acked.events[0][0]

    def _post(self, path: str, token: str, body: dict[str, Any],
              hold: str | None = None) -> Acked:
        payload = json.dumps(body, ensure_ascii=False).encode()
        key = uuid.uuid4().hex
        answer = self._send(path, token, payload, "application/json", key)
        if answer.status_code not in (200, 201):
            self.stats.unexpected.append(f"{path}: {answer.status_code} {answer.text[:200]}")
            raise GaveUpError(answer.text)
        events = tuple((e["record"], e["version"], e["type"], e["hash"])
                       for e in answer.json()["events"])
        acked = Acked(key, path, hold, events)
        self.acked.append(acked)
        if self.rng.random() < P_REPEAT:  # the same request again: the first answer, no write
            self.stats.repeats += 1
            again = self._send(path, token, payload, "application/json", key)
            if (again.status_code, again.json()) != (answer.status_code, answer.json()) or (
                    again.headers.get("idempotent-replayed") != "true"):
                self.stats.unexpected.append(f"repeat of {path} answered {again.text[:200]}")
        return acked

    def _send(self, path: str, token: str, payload: bytes, media: str,
              key: str | None = None) -> httpx2.Response:
        """POST until answered; every attempt with the same key and body."""
        key = key or uuid.uuid4().hex
        headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": key,
                   "Content-Type": media}
        for attempt in range(MAX_ATTEMPTS):
            roll = self.rng.random() if attempt < 2 else 1.0
            timeout = TIMEOUT
            if roll < P_ABANDON:
                self._abandon(path, headers, payload, partial=self.rng.random() < 0.5)
                continue
            if roll < P_ABANDON + P_TINY:
                timeout = self.rng.uniform(0.0005, 0.01)
            try:
                answer = self.http.post(path, content=payload, headers=headers, timeout=timeout)
            except httpx2.TransportError:  # timeouts included: hang up, reconnect, retry
                self.stats.timeouts += 1
                self.http.close()
                self.http = httpx2.Client(base_url=self.server.url, timeout=TIMEOUT)
                continue
            self.stats.requests += 1
            if answer.headers.get("idempotent-replayed") == "true":
                self.stats.replays += 1
            if answer.status_code >= 500:
                self.stats.server_errors.append(f"{path}: {answer.status_code} {answer.text}")
            elif answer.status_code == 409 and answer.json().get("code") == (
                    "idempotency_in_progress"):
                self.stats.in_progress += 1
            else:
                return answer
            time.sleep(min(0.5, 0.01 * 2**min(attempt, 6)))
        raise GaveUpError(f"{path}: no answer after {MAX_ATTEMPTS} attempts")

    def _abandon(self, path: str, headers: dict[str, str], payload: bytes,
                 partial: bool) -> None:
        """Send the request on a socket of its own and hang up without reading the answer."""
        self.stats.abandoned += 1
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        request = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{head}"
                   f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n").encode()
        body = payload[: len(payload) // 2] if partial else payload
        try:
            with socket.create_connection(("127.0.0.1", self.server.port), timeout=5) as s:
                s.sendall(request + body)
        except OSError:
            pass


# -- the test --------------------------------------------------------------------------------
def _principal(server: Server, role: str, agency: str, name: str) -> str:
    answer = httpx2.post(f"{server.url}/v1/principals", json={
        "name": name, "role": role, "agency": agency},
        headers={"Authorization": f"Bearer {server.admin_token}",
                 "Idempotency-Key": uuid.uuid4().hex}, timeout=TIMEOUT)
    assert answer.status_code == 201, answer.text
    token: str = answer.json()["token"]
    return token


def test_load_then_graceful_shutdown(backend: tuple[Settings, dict[str, str]],
                                     tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings, env = backend
    server = _start(env, tmp_path)
    try:
        tokens = [server.admin_token]
        clients = []
        for n in range(CLIENTS):
            agency = f"000.00.00.G{n + 10:02d}"
            clerk = _principal(server, "agency", agency, f"clerk {n}")
            inspector = _principal(server, "inspector", "000.00.00.T01", f"inspector {n}")
            tokens += [clerk, inspector]
            clients.append((agency, clerk, inspector))
        started = time.monotonic()
        threads = [Client(n, server, clerk, agency, inspector, started + SECONDS)
                   for n, (agency, clerk, inspector) in enumerate(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=SECONDS + 300)
        elapsed = time.monotonic() - started
    finally:
        code = server.stop()
    errors = [t.error for t in threads if t.error is not None]
    assert not errors, errors
    # Exit 0 is pinned by test_sigterm_exits_zero (xfail): uvicorn re-raises the SIGTERM it
    # handled, after its graceful shutdown. What shutting down must leave is checked below.
    assert code in (0, -signal.SIGTERM), server.stderr.read_text()[-3000:]
    assert "Traceback" not in server.stderr.read_text()

    stats = [t.stats for t in threads]
    acked = [a for t in threads for a in t.acked]
    events = [e for a in acked for e in a.events]
    requests = sum(s.requests for s in stats)
    with capsys.disabled():
        print(f"\n[{settings.database.kind}] {CLIENTS} clients, {elapsed:.1f} s: "
              f"{requests} answered requests ({requests / elapsed:.0f}/s), "
              f"{len(events)} acknowledged events ({len(events) / elapsed:.0f}/s); "
              f"{sum(s.abandoned for s in stats)} abandoned, "
              f"{sum(s.timeouts for s in stats)} timed out, "
              f"{sum(s.in_progress for s in stats)} in progress, "
              f"{sum(s.repeats for s in stats)} repeated, {sum(s.replays for s in stats)} "
              f"replayed, {sum(len(s.server_errors) for s in stats)} 5xx")
    assert [u for s in stats for u in s.unexpected] == []
    assert [e for s in stats for e in s.server_errors] == []
    assert len(events) > CLIENTS * 10, "the load did not get going"
    assert sum(s.repeats for s in stats) <= sum(s.replays for s in stats)

    audit = _stele(env, "audit")
    assert audit.returncode == 0, audit.stdout[-2000:] + audit.stderr
    assert audit.stdout.splitlines()[-1].startswith("PASSED"), audit.stdout[-2000:]

    with Ledger(settings) as ledger:
        status = ledger.log.status()
        # Graceful: all integrated, and the last checkpoint covers the whole log.
        assert status["integration_backlog"] == 0 and status["checkpoint_backlog"] == 0, status
        size = status["tree_size"]
        leaves = [leaf for start in range(0, size, 1000)
                  for _, leaf in ledger.log.leaves(start, min(size, start + 1000))]
        # The log's own entries (its RFC 3161 anchors) aside, each acknowledged event is a leaf
        # exactly once, and nothing else is in the log: no retry, abandoned request or repeat
        # wrote a second event.
        leaves = [leaf for leaf in leaves
                  if not leaf.endswith(b'"type":"log.anchored","v":1,"version":1}')]
        in_log = Counter(b64(event_hash(leaf)) for leaf in leaves)
        acked_hashes = Counter(h for _, _, _, h in events)
        assert [h for h, n in acked_hashes.items() if n != 1] == []
        assert [h for h in acked_hashes if in_log[h] != 1] == []
        assert len(leaves) == len(events) == len(in_log)
        for record, version, _, digest in events[:: max(1, len(events) // 200)]:
            shown = ledger.records.describe(record)["events"][version - 1]
            assert shown["hash"] == digest and shown["leaf_index"] is not None
        # A hold placed under one key is placed once (and released at most once).
        parsed = [json.loads(leaf) for leaf in leaves if b'"record.hold_' in leaf]
        holds = Counter((e["type"], e["data"]["hold"]) for e in parsed)
        assert [k for k, n in holds.items() if n != 1] == []
        assert sum(1 for a in acked if a.hold is not None) == sum(holds.values())

    log = server.stdout.read_text() + server.stderr.read_text().replace(server.admin_token, "")
    assert not [t for t in tokens if t in log], "a token reached the server's log"
    contents = [c.decode() for t in threads for c in t.contents]
    assert not [c for c in contents if c in log], "document content reached the server's log"


def test_sigterm_exits_zero(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STELE_")}
    env.update(STELE_DATA_DIR=str(tmp_path / "data"), STELE_ENV="dev")
    server = _start(env, tmp_path)
    assert server.stop() == 0
