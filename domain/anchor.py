"""Anchor entries: the log records its own RFC 3161 timestamps, so later checkpoints cover them.

`log.anchored`: a checkpoint was timestamped by a TSA (one aggregate per checkpoint and TSA).
`log.renewed`: the evidence records of every anchored checkpoint were renewed (RFC 4998 §5.2),
one aggregate per renewal. Tokens live in the content store; events carry their digests.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar
from uuid import UUID

from domain.chained import ChainedAggregate, aggregate_id
from domain.envelope import Actor
from domain.metadata import check_digest, check_text
from verifiers.canonical import canonical_bytes

ANCHOR_NAMESPACE = UUID("3e0b7c1d-52a4-5f86-9c2e-7d41a8b6e905")
RENEWAL_NAMESPACE = UUID("9b2f6e14-8c3a-5d7e-a1f0-4c6d2e8b9a37")


def anchor_id(origin: str, size: int, tsa: str) -> UUID:
    return aggregate_id(ANCHOR_NAMESPACE, canonical_bytes([origin, size, tsa]).decode())


class LogAnchor(ChainedAggregate):
    class Event(ChainedAggregate.Event):
        pass

    class Anchored(Event, ChainedAggregate.Created):
        TYPE: ClassVar[str] = "log.anchored"
        checkpoint: dict[str, Any]  # {"origin", "size", "root", "note"}: note = sha-256 digest
        tsa: str
        token: str  # sha-256 digest of the TimeStampToken DER (content store)
        gen_time: str
        tsa_anchor: str | None  # fingerprint of the trusted root the TSA chains to

        def apply(self, aggregate: Any) -> None:
            aggregate.checkpoint = self.checkpoint
            aggregate.tsa = self.tsa

    @classmethod
    def anchor(cls, *, actor: Actor, at: datetime, origin: str, size: int, root: str,
               note: str, tsa: str, token: str, gen_time: str,
               tsa_anchor: str | None = None) -> LogAnchor:
        return cls._create(
            cls.Anchored, id=anchor_id(origin, size, tsa), timestamp=at, actor=actor.as_dict(),
            prev=None, checkpoint={"origin": origin, "size": size, "root": root,
                                   "note": check_digest(note, "note")},
            tsa=check_text(tsa, "tsa"), token=check_digest(token, "token"), gen_time=gen_time,
            tsa_anchor=tsa_anchor)


class LogRenewal(ChainedAggregate):
    class Event(ChainedAggregate.Event):
        pass

    class Renewed(Event, ChainedAggregate.Created):
        TYPE: ClassVar[str] = "log.renewed"
        kind: str  # "timestamp" | "hash_tree"
        algorithm: str
        reason: str
        records: int  # evidence records renewed
        tree_root: str  # base64 root of the RFC 4998 hash tree the token covers
        tsa: str
        token: str
        gen_time: str
        tsa_anchor: str | None

        def apply(self, aggregate: Any) -> None:
            aggregate.kind = self.kind

    @classmethod
    def renew(cls, *, actor: Actor, at: datetime, renewal: str, kind: str, algorithm: str,
              reason: str, records: int, tree_root: str, tsa: str, token: str,
              gen_time: str, tsa_anchor: str | None = None) -> LogRenewal:
        return cls._create(
            cls.Renewed, id=aggregate_id(RENEWAL_NAMESPACE, renewal), timestamp=at,
            actor=actor.as_dict(), prev=None, kind=kind, algorithm=algorithm,
            reason=check_text(reason, "reason"), records=records, tree_root=tree_root, tsa=tsa,
            token=check_digest(token, "token"), gen_time=gen_time, tsa_anchor=tsa_anchor)
