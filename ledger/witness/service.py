"""A C2SP tlog-witness (https://c2sp.org/tlog-witness): cosign a log's checkpoint only if it
is consistent with the last one this witness cosigned for that log.

`add_checkpoint` answers as the spec says: 400 for a body that does not parse or an old size
above the checkpoint's, 404 for a log not listed, 403 without a valid signature of the listed
log key, 409 (`text/x.tlog.size`, the size held) when the old size is not the size held, 409
too when the old size is the checkpoint's but the root is another (the text of tlog-witness
as published since 2024; docs/witness.md says why), 422 for a proof that does not verify, and
200 with the cosignature line.

- Check and update are one statement (`Tx.move_witness_head`: an UPDATE whose WHERE names
  the size and root read), so two requests racing never move the head backwards: the loser
  gets a 409 with the winner's size.
- Every checkpoint cosigned is kept (`stele_witness_cosigned`), not only the latest.
- Every validly signed checkpoint refused as conflicting (a 409 at one size, a 422) is kept
  as equivocation evidence: both notes and the proof sent (verifiers/witness.py), marked
  proven when verifiers can prove the conflict from it alone.
- Rollback: after each cosignature the head is also written to a high-water file in the data
  directory (`witness/<origin hash>.note`, replaced only by a larger one). A store restored
  from an older backup is moved forward to that file's head before any answer, so a restored
  witness never cosigns what contradicts what it cosigned before the restore.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import structlog

from ledger.errors import ConfigError
from ledger.log.keys import LogKey
from ledger.store.tables import LogStore
from verifiers.cosignature import cosign, parse_cosigner_key, verify_cosignatures
from verifiers.errors import VerificationError
from verifiers.merkle import verify_consistency
from verifiers.note import Checkpoint, VerifierKey, open_note, parse_checkpoint, split_note
from verifiers.policy import PolicyLog, parse_policy
from verifiers.witness import equivocation_evidence, parse_add_checkpoint, verify_equivocation

log = structlog.get_logger("stele.witness")

SIZE_TYPE = "text/x.tlog.size"
TEXT_TYPE = "text/plain; charset=utf-8"


def load_witnessed_logs(path: Path | None) -> tuple[PolicyLog, ...]:
    """The logs a witness cosigns: the `log` lines of a tlog-policy file (its other lines,
    if any, are not the witness's business)."""
    if path is None:
        raise ConfigError("the witness needs STELE_WITNESS_LOGS")
    try:
        logs = parse_policy(path.read_bytes(), quorum_required=False).logs
    except OSError as exc:
        raise ConfigError(f"cannot read the witness's log list {path}: {exc}") from None
    except VerificationError as exc:
        raise ConfigError(f"witness log list {path}: {exc.diagnostics()}") from None
    if not logs:
        raise ConfigError(f"witness log list {path} has no log line")
    return logs


@dataclass(frozen=True)
class Answer:
    status: int
    body: str
    content_type: str = TEXT_TYPE


class _Moved(Exception):
    """The head moved between reading it and updating it."""


class Witness:
    def __init__(self, store: LogStore, key: LogKey, logs: Sequence[VerifierKey],
                 heads_dir: Path, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
                 ) -> None:
        self.store = store
        self.key = key
        self.cosigner = parse_cosigner_key(key.cosigner)
        self.logs: dict[str, list[VerifierKey]] = {}
        for k in logs:
            self.logs.setdefault(k.name, []).append(k)
        self.heads_dir = heads_dir
        self.clock = clock

    # -- the protocol --------------------------------------------------------------------------
    def add_checkpoint(self, body: bytes) -> Answer:
        try:
            request = parse_add_checkpoint(body)
            text, _ = split_note(request.note)
            checkpoint = parse_checkpoint(text)
        except VerificationError as exc:
            return Answer(400, exc.diagnostics() + "\n")
        keys = self.logs.get(checkpoint.origin)
        if not keys:
            return Answer(404, f"unknown log origin {checkpoint.origin!r}\n")
        try:
            open_note(request.note, keys)
        except VerificationError:
            return Answer(403, "no valid signature of a trusted log key\n")
        if request.old > checkpoint.size:
            return Answer(400, "old size is larger than the checkpoint's size\n")
        head = self._head(checkpoint.origin)
        held = 0 if head is None else head[0]
        if request.old != held:
            return Answer(409, f"{held}\n", SIZE_TYPE)
        if head is None:
            if request.proof:
                return Answer(422, "a proof from size 0 must be empty\n")
        elif request.old == checkpoint.size:
            if checkpoint.root != head[1]:
                self._refused(checkpoint.origin, head[2], request.note, request.proof, keys)
                return Answer(409, f"{held}\n", SIZE_TYPE)
            if request.proof:
                return Answer(422, "a proof between equal sizes must be empty\n")
        else:
            try:
                verify_consistency(request.old, checkpoint.size, request.proof, head[1],
                                   checkpoint.root)
            except VerificationError as exc:
                self._refused(checkpoint.origin, head[2], request.note, request.proof, keys)
                return Answer(422, f"the consistency proof does not verify: {exc.code}\n")
        now = self.clock()
        line = cosign(text, self.key.name, self.key.private_key, int(now.timestamp()))
        try:
            with self.store.transaction() as tx:
                if not tx.move_witness_head(checkpoint.origin,
                                            None if head is None else (head[0], head[1]),
                                            checkpoint.size, checkpoint.root, request.note,
                                            now.isoformat()):
                    raise _Moved
                tx.add_witness_cosigned(checkpoint.origin, checkpoint.size, checkpoint.root,
                                        int(now.timestamp()), request.note, line)
        except _Moved:
            moved = self._head(checkpoint.origin)
            return Answer(409, f"{0 if moved is None else moved[0]}\n", SIZE_TYPE)
        self._raise_high_water(checkpoint, request.note + line)
        return Answer(200, line)

    # -- what it holds -------------------------------------------------------------------------
    def heads(self) -> list[dict[str, object]]:
        with self.store.transaction() as tx:
            return [{"origin": o, "size": s, "updated_at": u} for o, s, u in tx.witness_heads()]

    def cosigned(self, origin: str) -> list[dict[str, object]]:
        with self.store.transaction() as tx:
            rows = tx.witness_cosigned(origin)
        return [{"size": s, "timestamp": t, "note": n + c} for _, s, _, t, n, c in rows]

    def evidence(self, origin: str | None = None) -> list[dict[str, object]]:
        with self.store.transaction() as tx:
            rows = tx.witness_evidence(origin)
        return [{"found_at": f, "proven": p, "evidence": e} for f, p, e in rows]

    # -- inside --------------------------------------------------------------------------------
    def _head(self, origin: str) -> tuple[int, bytes, str] | None:
        """The head of `origin`, first moved forward to the high-water file if the store is
        behind it (restored from an older backup)."""
        with self.store.transaction() as tx:
            head = tx.witness_head(origin)
        mark = self._high_water(origin)
        if mark is None or (head is not None and head[0] >= mark[0].size):
            return head
        checkpoint, marked = mark
        note = self._without_own(marked)
        log.warning("witness.restored", origin=origin, store=None if head is None else head[0],
                    high_water=checkpoint.size)
        with self.store.transaction() as tx:
            tx.move_witness_head(origin, None if head is None else (head[0], head[1]),
                                 checkpoint.size, checkpoint.root, note,
                                 self.clock().isoformat())
            return tx.witness_head(origin)

    def _without_own(self, note: str) -> str:
        """`note` without this witness's own cosignature lines: the note as the log sent it."""
        text, signatures = split_note(note)
        lines = [line for line, sig in zip(note[len(text) + 1:].splitlines(keepends=True),
                                           signatures, strict=True)
                 if (sig.name, sig.key_id) != (self.cosigner.name, self.cosigner.key_id)]
        return text + "\n" + "".join(lines)

    def _mark_path(self, origin: str) -> Path:
        return self.heads_dir / (hashlib.sha256(origin.encode("utf-8")).hexdigest()[:32]
                                 + ".note")

    def _high_water(self, origin: str) -> tuple[Checkpoint, str] | None:
        """The high-water head of `origin`, if its file holds one this witness cosigned."""
        try:
            note = self._mark_path(origin).read_text("utf-8")
            opened = open_note(note, self.logs.get(origin, []))
            if self.key.name not in verify_cosignatures(note, [self.cosigner]):
                return None
        except (OSError, VerificationError):
            return None
        return parse_checkpoint(opened.text), note

    def _raise_high_water(self, checkpoint: Checkpoint, note: str) -> None:
        self.heads_dir.mkdir(parents=True, exist_ok=True)
        path = self._mark_path(checkpoint.origin)
        with open(self.heads_dir / ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            mark = self._high_water(checkpoint.origin)
            if mark is not None and mark[0].size >= checkpoint.size:
                return
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(note)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
            fd = os.open(self.heads_dir, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def _refused(self, origin: str, held: str, note: str, proof: Sequence[bytes],
                 keys: Sequence[VerifierKey]) -> None:
        found_at = self.clock().isoformat()
        evidence = equivocation_evidence(held, note, proof, origin=origin,
                                         witness=self.key.name, found_at=found_at)
        proven = False
        for key in keys:
            try:
                verify_equivocation(evidence, key)
                proven = True
                break
            except VerificationError:
                continue
        identity = hashlib.sha256("\n".join([held, note, *map(bytes.hex, proof)])
                                  .encode("utf-8")).hexdigest()
        with self.store.transaction() as tx:
            tx.add_witness_evidence(identity, origin, found_at, proven,
                                    evidence.decode("utf-8"))
        log.error("witness.conflict", origin=origin, proven=proven)
