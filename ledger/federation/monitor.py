"""The monitor: follows logs from their published tiles alone, and raises on a split view, a
stale checkpoint or a log it cannot reach.

For each log of the policies it is given (a `log <vkey> <url>` line: the node's base URL; the
tiles are under `<url>/v1/log/tiles/`), every poll:
- fetches the published checkpoint and checks it under the pinned log key and the policy's
  quorum of cosignatures (`quorum_not_met`, or the note's own code, when it does not);
- checks it is consistent with the last checkpoint it saw of that log, with a consistency
  proof read from the log's tiles (each tile checked up to the new signed root): a smaller
  size (`rollback`), one size with another root, or a proof that does not lead to the old
  root is a `split_view`;
- raises `stale` when the newest cosignature is older than `stale_after` seconds (the
  witnesses have stopped vouching, or the log stopped publishing), and `unreachable` when
  the checkpoint cannot be fetched.

And from each witness of the policies that has a URL, it reads the equivocation evidence the
witness kept (`<url>/v1/witness/evidence`: conflicting checkpoints a log submitted and the
witness refused). Evidence that verifiers prove against the pinned log key is a `split_view`
(the log signed two histories; a witness cannot frame a log, since the proof needs the log's
own signatures); evidence that proves nothing is ignored.

What it saw is kept in a state file (JSON, written atomically), so a restarted monitor still
compares with the last checkpoint it saw. Needs nothing of the log's but its published files.
"""

from __future__ import annotations

import hashlib
import json
import os
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from verifiers.canonical import b64, unb64
from verifiers.errors import VerificationError
from verifiers.merkle import verify_consistency
from verifiers.policy import Policy, PolicyLog, QuorumError, verify_witnessed
from verifiers.tiles import CHECKPOINT, Fetch, TileMissingError, TileReader, http_fetch
from verifiers.witness import Equivocation, verify_equivocation

SPLIT_VIEW = "split_view"
ROLLBACK = "rollback"
STALE = "stale"
UNREACHABLE = "unreachable"


@dataclass(frozen=True)
class Finding:
    """One observation: an alarm (`alarm` True) or a checkpoint seen (`kind` "checkpoint")."""

    kind: str
    origin: str
    alarm: bool
    detail: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"event": self.kind, "origin": self.origin, "alarm": self.alarm, **self.detail}


@dataclass
class _Followed:
    log: PolicyLog
    policy: Policy
    fetch: Fetch
    size: int = 0
    root: bytes = b""
    note: str = ""


def tiles_url(url: str) -> str:
    return url.rstrip("/") + "/v1/log/tiles/"


class Monitor:
    def __init__(self, policies: Sequence[Policy], *, stale_after: float,
                 state: Path | None = None, timeout: float = 10.0,
                 fetch_for: Callable[[str], Fetch] | None = None,
                 get: Callable[[str], bytes] | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        make = fetch_for or (lambda url: http_fetch(tiles_url(url), timeout=timeout))
        self.followed: dict[str, _Followed] = {}
        for policy in policies:
            for log in policy.logs:
                if log.url and log.origin not in self.followed:
                    self.followed[log.origin] = _Followed(log, policy, make(log.url))
        # Each witness once, by URL (policies of several logs name the same witnesses).
        self.witnesses = {w.url: w.name for policy in policies
                          for w in policy.witnesses.values() if w.url}
        self.get = get or (lambda url: _get(url, timeout))
        self._evidence_seen: set[str] = set()
        self.stale_after = stale_after
        self.state = state
        self.clock = clock
        self._load()

    def poll(self) -> list[Finding]:
        found = [f for followed in self.followed.values() for f in self._poll(followed)]
        return found + self._evidence()

    def _evidence(self) -> list[Finding]:
        found: list[Finding] = []
        for url, name in self.witnesses.items():
            try:
                listed = json.loads(self.get(url.rstrip("/") + "/v1/witness/evidence"))
                documents = [e["evidence"] for e in listed["evidence"]]
            except (OSError, ValueError, KeyError, TypeError) as exc:
                found.append(Finding(UNREACHABLE, name, True, {
                    "witness": name, "reason": f"evidence: {type(exc).__name__}: {exc}"}))
                continue
            for document in documents:
                digest = hashlib.sha256(str(document).encode("utf-8")).hexdigest()
                if digest in self._evidence_seen:
                    continue
                proven = self._prove(str(document))
                if proven is None:
                    continue
                self._evidence_seen.add(digest)
                found.append(Finding(SPLIT_VIEW, proven.origin, True, {
                    "witness": name, "how": proven.how,
                    "sizes": [proven.first.size, proven.second.size], "evidence": document}))
        return found

    def _prove(self, document: str) -> Equivocation | None:
        for f in self.followed.values():
            try:
                return verify_equivocation(document.encode("utf-8"), f.log.key)
            except VerificationError:
                continue
        return None

    def _poll(self, f: _Followed) -> list[Finding]:
        origin = f.log.origin
        try:
            note = f.fetch(CHECKPOINT).decode("utf-8")
        except (VerificationError, UnicodeDecodeError) as exc:
            return [Finding(UNREACHABLE, origin, True, {"reason": _reason(exc)})]
        try:
            witnessed = verify_witnessed(note, f.policy)
        except QuorumError as exc:
            return [Finding(exc.code, origin, True, dict(exc.evidence))]
        except VerificationError as exc:
            return [Finding(exc.code, origin, True, {"reason": exc.message, **exc.evidence})]
        cp = witnessed.checkpoint
        found: list[Finding] = []
        newest = max(witnessed.cosigners.values(), default=0)
        age = self.clock().timestamp() - newest
        if witnessed.cosigners and age > self.stale_after:
            found.append(Finding(STALE, origin, True, {"size": cp.size, "age": round(age, 1),
                                                       "bound": self.stale_after}))
        conflict = self._conflict(f, cp.size, cp.root, note)
        if conflict is not None:
            return [*found, conflict]  # keep the last consistent view as the reference
        if cp.size != f.size or not f.note:
            found.append(Finding("checkpoint", origin, False, {
                "size": cp.size, "root": b64(cp.root), "cosigners": witnessed.cosigners}))
            f.size, f.root, f.note = cp.size, cp.root, note
            self._save()
        return found

    def _conflict(self, f: _Followed, size: int, root: bytes, note: str) -> Finding | None:
        if not f.note:
            return None
        origin, detail = f.log.origin, {"seen": f.note, "now": note}
        if size < f.size:
            return Finding(ROLLBACK, origin, True, {"seen_size": f.size, "size": size, **detail})
        if size == f.size:
            if root == f.root:
                return None
            return Finding(SPLIT_VIEW, origin, True, {"size": size, **detail})
        try:
            reader = TileReader(f.fetch, f.log.key, checkpoint=note, origin=origin)
            verify_consistency(f.size, size, reader.consistency_proof(f.size), f.root, root)
        except TileMissingError as exc:  # a tile it could not fetch proves nothing
            return Finding(UNREACHABLE, origin, True, {"reason": _reason(exc)})
        except VerificationError as exc:
            return Finding(SPLIT_VIEW, origin, True, {
                "seen_size": f.size, "size": size, "reason": exc.code, **detail})
        return None

    def _load(self) -> None:
        if self.state is None or not self.state.exists():
            return
        saved = json.loads(self.state.read_text("utf-8"))
        for origin, seen in saved.items():
            if origin in self.followed:
                f = self.followed[origin]
                f.size, f.root, f.note = int(seen["size"]), unb64(seen["root"]), seen["note"]

    def _save(self) -> None:
        if self.state is None:
            return
        data = {o: {"size": f.size, "root": b64(f.root), "note": f.note}
                for o, f in self.followed.items() if f.note}
        tmp = self.state.with_name(self.state.name + ".tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", "utf-8")
        os.replace(tmp, self.state)


def _get(url: str, timeout: float) -> bytes:
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise OSError(f"not an http(s) URL: {url!r}")
    with urllib.request.urlopen(url, timeout=timeout) as answer:  # noqa: S310 (checked)
        data: bytes = answer.read(16 * 1024 * 1024)
        return data


def _reason(exc: Exception) -> str:
    return exc.diagnostics() if isinstance(exc, VerificationError) else str(exc)
