"""Getting the log's checkpoints cosigned by its witnesses (C2SP tlog-witness, client side).

The witnesses and the quorum are a C2SP tlog-policy file (`STELE_WITNESS_POLICY`): its `log`
line for this log, a `witness <name> <vkey> <url>` line per witness (the URL is the witness's
submission prefix), and the `quorum`. Each round takes the latest checkpoint and submits it to
every witness that has not cosigned it, all at once, each with the consistency proof from the
size that witness last cosigned (kept in the store; a 409 says it again after a restart or a
witness's restore, and the round retries from there). A witness that fails is retried with
exponential backoff (1 s doubling to 10 s). Cosignatures are verified against the policy's
key before they are kept, and a checkpoint whose cosigners meet the quorum is stored with its
cosignatures (`stele_witnessed`): the checkpoint the tiles and the API publish.

Writes never wait for any of this: it runs in the log worker's thread of its own, under a
lease (one process of a node submits).
"""

from __future__ import annotations

import http.client
import threading
import time
import urllib.parse
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog

from ledger.errors import ConfigError
from ledger.log.checkpoints import Checkpoint, Checkpointer
from ledger.log.keys import LogKey
from ledger.log.tree import consistency_proof
from ledger.store.tables import LogStore
from verifiers.cosignature import verify_cosignatures
from verifiers.errors import VerificationError
from verifiers.note import split_note
from verifiers.policy import Policy, PolicyWitness, parse_policy, verify_witnessed
from verifiers.witness import format_add_checkpoint

log = structlog.get_logger("stele.witnessing")

WITNESSING = "witnessing"  # the lease: one process of a node submits
MAX_BACKOFF = 10.0
_SIZE_TYPE = "text/x.tlog.size"


def load_policy(path: Any, key: LogKey) -> Policy:
    """The log's witness policy, which must list this log's own key."""
    try:
        policy = parse_policy(path.read_bytes())
    except OSError as exc:
        raise ConfigError(f"cannot read the witness policy {path}: {exc}") from None
    except VerificationError as exc:
        raise ConfigError(f"witness policy {path}: {exc.diagnostics()}") from None
    mine = policy.log(key.name)
    if mine is None or str(mine.key) != key.verifier:
        raise ConfigError(f"witness policy {path} does not list this log's key "
                          f"({key.verifier}) on a log line")
    if not any(w.url for w in policy.witnesses.values()):
        raise ConfigError(f"witness policy {path} gives no witness URL to submit to")
    return policy


@dataclass(frozen=True)
class Outcome:
    witness: str
    size: int | None  # the size the witness now holds, when learnt
    line: str | None = None  # its cosignature of the checkpoint, on success
    error: str | None = None
    seconds: float = 0.0


class _Client:
    """One keep-alive connection per witness (the spec asks clients to use them)."""

    def __init__(self, url: str, timeout: float) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"witness URL must be http(s)://host[:port]/prefix: {url!r}")
        self.parts = parts
        self.path = parts.path.rstrip("/") + "/add-checkpoint"
        self.timeout = timeout
        self._conn: http.client.HTTPConnection | None = None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def post(self, body: bytes) -> tuple[int, str, str]:
        for attempt in (1, 2):  # once more on a fresh connection if a kept one was closed
            if self._conn is None:
                cls = (http.client.HTTPSConnection if self.parts.scheme == "https"
                       else http.client.HTTPConnection)
                self._conn = cls(self.parts.hostname or "", self.parts.port,
                                 timeout=self.timeout)
            try:
                self._conn.request("POST", self.path, body=body,
                                   headers={"Content-Type": "text/plain"})
                response = self._conn.getresponse()
                text = response.read(65536).decode("utf-8", "replace")
                return response.status, response.getheader("Content-Type") or "", text
            except (OSError, http.client.HTTPException):
                self._conn.close()
                self._conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


class Witnessing:
    def __init__(self, store: LogStore, checkpointer: Checkpointer, policy: Policy, *,
                 timeout: float = 10.0,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.store = store
        self.checkpointer = checkpointer
        self.policy = policy
        self.clock = clock
        self.witnesses = [w for w in policy.witnesses.values() if w.url]
        self._clients = {w.name: _Client(w.url or "", timeout) for w in self.witnesses}
        self._retry_at: dict[str, tuple[float, float]] = {}  # witness -> (monotonic, delay)
        self._pool = ThreadPoolExecutor(max(1, len(self.witnesses)),
                                        thread_name_prefix="stele-witness")
        self._lock = threading.Lock()

    def round(self) -> list[Outcome]:
        """Submit the latest checkpoint to each witness that has not cosigned it and is not
        backing off; keep the cosignatures; store it as witnessed once the quorum is met."""
        with self._lock:
            checkpoint = self.checkpointer.latest()
            if checkpoint is None:
                return []
            with self.store.transaction() as tx:
                peers = tx.witness_peers()
                have = tx.cosignatures(checkpoint.size)
            now = time.monotonic()
            due = [w for w in self.witnesses if w.name not in have
                   and self._retry_at.get(w.name, (0.0, 0.0))[0] <= now]
            outcomes = list(self._pool.map(
                lambda w: self._submit(w, checkpoint, peers.get(w.name, (0,))[0]), due))
            stamp = self.clock().isoformat()
            with self.store.transaction() as tx:
                for o in outcomes:
                    tx.put_witness_peer(o.witness, o.size, attempted_at=stamp,
                                        cosigned_at=stamp if o.line else None, error=o.error)
                    if o.line is not None:
                        tx.add_cosignature(checkpoint.size, o.witness, o.line)
                lines = tx.cosignatures(checkpoint.size)
                if self.policy.satisfied(lines):
                    note = checkpoint.note + "".join(
                        lines[w] for w in self.policy.witnesses if w in lines)
                    verify_witnessed(note, self.policy)  # our own output, checked
                    tx.add_witnessed(checkpoint.size, note, stamp)
            for o in outcomes:
                self._backoff(o)
            return outcomes

    def _backoff(self, outcome: Outcome) -> None:
        if outcome.error is None:
            self._retry_at.pop(outcome.witness, None)
            return
        delay = min(MAX_BACKOFF, 2 * self._retry_at.get(outcome.witness, (0.0, 0.5))[1])
        self._retry_at[outcome.witness] = (time.monotonic() + delay, delay)
        log.warning("witness.failed", witness=outcome.witness, error=outcome.error,
                    retry_in=delay)

    def _submit(self, witness: PolicyWitness, checkpoint: Checkpoint, old: int) -> Outcome:
        started = time.monotonic()
        client = self._clients[witness.name]
        learnt: int | None = None
        for _ in range(3):  # a 409 tells the size the witness holds: try again from there
            if old > checkpoint.size:
                return Outcome(witness.name, learnt, error=(
                    f"the witness holds size {old}, larger than this log's {checkpoint.size}:"
                    " this log was rolled back or forked"))
            with self.store.transaction() as tx:
                proof = (consistency_proof(tx, old, checkpoint.size)
                         if 0 < old < checkpoint.size else [])
            try:
                status, kind, body = client.post(
                    format_add_checkpoint(old, proof, checkpoint.note))
            except (OSError, http.client.HTTPException) as exc:
                return Outcome(witness.name, learnt, error=f"unreachable: {exc}")
            if status == 409 and kind.split(";")[0].strip() == _SIZE_TYPE:
                held = _size(body)
                if held is None:
                    return Outcome(witness.name, learnt, error="409 with a malformed size")
                if held == old:
                    return Outcome(witness.name, held, error=(
                        f"the witness holds another tree of size {held}: a split view"))
                old = learnt = held
                continue
            if status != 200:
                return Outcome(witness.name, learnt, error=f"{status}: {body.strip()[:200]}")
            line = _cosignature(checkpoint.note, body, witness)
            if line is None:
                return Outcome(witness.name, learnt,
                               error="200 without a valid cosignature of the witness's key")
            return Outcome(witness.name, checkpoint.size, line=line,
                           seconds=time.monotonic() - started)
        return Outcome(witness.name, learnt, error="the witness kept answering 409")

    def status(self, size: int) -> dict[str, Any]:
        with self.store.transaction() as tx:
            known = tx.witness_peers()
            witnessed = tx.latest_witnessed()
        peers = {w.name: known.get(w.name, (0, None, None, None)) for w in self.witnesses}
        return {
            "quorum": self.policy.describe(),
            "witnessed": None if witnessed is None else {
                "size": witnessed[0], "at": witnessed[2], "lag": size - witnessed[0]},
            "witnesses": [{
                "name": w.name, "url": w.url, "cosigned_size": peers[w.name][0],
                "lag": size - peers[w.name][0], "cosigned_at": peers[w.name][1],
                "attempted_at": peers[w.name][2], "error": peers[w.name][3],
            } for w in self.witnesses],
        }

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        for client in self._clients.values():
            client.close()


def _size(body: str) -> int | None:
    text = body.strip()
    return int(text) if text.isascii() and text.isdigit() else None


def _cosignature(note: str, body: str, witness: PolicyWitness) -> str | None:
    """The witness's own cosignature line in a 200 answer, verified; None if it has none."""
    try:
        if witness.key.name not in verify_cosignatures(note + body, [witness.key]):
            return None
    except VerificationError:
        return None
    for line in body.splitlines(keepends=True):
        if line.startswith(f"\u2014 {witness.key.name} ") and line.endswith("\n"):
            _, [sig] = split_note("x\n\n" + line)
            if sig.key_id == witness.key.key_id:
                return line
    return None
