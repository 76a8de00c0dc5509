"""The trust-anchor registry as the ledger reads it: every TrustAnchor aggregate, which of them
were in force at a time, and what depends on each (from the integrated log)."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta
from typing import Any

from eventsourcing.application import AggregateNotFoundError

from domain.trust import TrustAnchor, anchor_id, check_anchor_ref
from ledger.errors import NotFoundError
from ledger.store.application import RecordsApplication
from ledger.store.tables import LogStore
from verifiers.timestamp import TrustedRoot


class AnchorNotFoundError(NotFoundError):
    code = "anchor_not_found"


class TrustRegistry:
    def __init__(self, store: LogStore, app: RecordsApplication) -> None:
        self.store = store
        self.app = app

    def get(self, fingerprint: Any) -> TrustAnchor:
        try:
            anchor: TrustAnchor = self.app.repository.get(anchor_id(check_anchor_ref(fingerprint)))
        except AggregateNotFoundError:
            raise AnchorNotFoundError("no trust anchor with that fingerprint",
                                      anchor=fingerprint) from None
        return anchor

    def anchors(self, purpose: str | None = None) -> list[TrustAnchor]:
        """Every registered anchor (of `purpose`), oldest registration first."""
        with self.store.transaction() as tx:
            fingerprints = tx.anchor_fingerprints()
        found = []
        for fingerprint in fingerprints:
            try:
                found.append(self.get(fingerprint))
            except AnchorNotFoundError:  # indexed, but its registration was never saved
                continue
        return sorted((a for a in found if purpose is None or purpose in a.purposes),
                      key=lambda a: (a.registered_at, a.fingerprint))

    def vouching(self, purpose: str, known_at: datetime) -> list[TrustedRoot]:
        """The roots of `purpose`, as known at `known_at`, each with the window of what it
        vouches for (a retired anchor, for what was made before it retired; a suspended
        one, for nothing): the registry's one answer to "which anchors vouch for this"."""
        found = []
        for anchor in self.anchors(purpose):
            window = anchor.window(known_at)
            if window is not None:
                found.append(TrustedRoot(base64.b64decode(anchor.certificate), *window))
        return found

    def tsa_roots(self, now: datetime) -> tuple[list[bytes], set[str]]:
        """For new timestamps, from one read of the registry: DER of the time-stamping
        anchors that vouch now, and the fingerprints of every anchor that does not (a
        configured root that is one of them is not trusted either: the committee prevails)."""
        anchors = self.anchors()
        stopped = {a.fingerprint for a in anchors if a.in_force(now, now) is not None}
        vouching = [base64.b64decode(a.certificate) for a in anchors
                    if "timestamping" in a.purposes and a.fingerprint not in stopped]
        return vouching, stopped

    def usage(self, fingerprint: str) -> dict[str, Any]:
        with self.store.transaction() as tx:
            uses = tx.anchor_usage(fingerprint)
            records = tx.anchor_records(fingerprint)
        empty = {"count": 0, "earliest": None, "latest": None}
        stamps = [u for u in (uses.get("timestamp"), uses.get("renewal")) if u]
        return {"records": records, "signatures": uses.get("signature", empty),
                "timestamps": {"count": sum(u["count"] for u in stamps),
                               "earliest": min((u["earliest"] for u in stamps), default=None),
                               "latest": max((u["latest"] for u in stamps), default=None)}
                if stamps else empty}

    def stopped_tsa_anchors(self, now: datetime) -> list[TrustAnchor]:
        """Registered anchors that evidence records' newest timestamps rest on, and that no
        longer vouch now (suspended, retired, or past their window): those records must be
        renewed by a TSA under another anchor."""
        with self.store.transaction() as tx:
            in_use = tx.tsa_anchors_in_use()
        stopped = []
        for fingerprint in in_use:
            try:
                anchor = self.get(fingerprint)
            except AnchorNotFoundError:  # a configured root (STELE_TSA_ROOTS), not registered
                continue
            if anchor.in_force(now, now) is not None:
                stopped.append(anchor)
        return stopped

    def show(self, fingerprint: str) -> dict[str, Any]:
        """An anchor's state, its full history, and what depends on it (for the committee)."""
        anchor = self.get(fingerprint)
        history = []
        for raw in (e.state for e in self.app.recorder.select_events(anchor.id)):
            event = json.loads(raw)
            history.append({"version": event["version"], "type": event["type"],
                            "at": event["at"], "actor": event["actor"],
                            "reason": event["data"].get("reason")})
        return {**anchor.summary(), "certificate": anchor.certificate, "history": history,
                "depends": self.usage(anchor.fingerprint)}

    def expiring(self, within: timedelta, now: datetime) -> list[dict[str, Any]]:
        """Anchors not retired whose window ends before `now + within`, soonest first."""
        horizon = now + within
        due = [a for a in self.anchors() if a.status != "retired"
               and datetime.fromisoformat(a.not_after.replace("Z", "+00:00")) <= horizon]
        return [{**a.summary(), "depends": self.usage(a.fingerprint)}
                for a in sorted(due, key=lambda a: a.not_after)]
