"""Long-term proof as a service: anchoring checkpoints with RFC 3161 timestamps (the lease's
holder alone calls the TSAs), RFC 4998 renewal when due, and the roots that vouch for them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from domain.chained import ChainedAggregate
from domain.envelope import Actor
from ledger.config import Settings
from ledger.errors import (
    ConfigError,
    NotAnchoredError,
)
from ledger.longterm.anchoring import Anchored, Anchorer, AnchorPolicy, anchor_policy
from ledger.longterm.renewal import Renewal, due, renew
from ledger.store.application import RecordsApplication
from ledger.store.lease import ANCHORING, Lease
from ledger.store.tables import LogStore
from ledger.trust.registry import TrustRegistry
from verifiers.certs import fingerprint
from verifiers.timestamp import TrustedRoot


class LongTerm:
    """Anchoring and renewal of this ledger's checkpoints."""

    def __init__(self, *, settings: Settings, store: LogStore, app: RecordsApplication,
                 trust: TrustRegistry, clock: Callable[[], datetime]) -> None:
        self.settings = settings
        self.store = store
        self.app = app
        self.trust = trust
        self.clock = clock
        self._anchorer: Anchorer | None = None
        self._lease: Lease | None = None

    def release(self) -> None:
        """Hand the anchoring lease over at once if this process held it."""
        if self._lease is not None:
            self._lease.release()

    @property
    def anchorer(self) -> Anchorer:
        """Made on first use: the built-in TSA's key is created only when it is needed."""
        if self._anchorer is None:
            self.set_anchor_policy(anchor_policy(self.settings))
        assert self._anchorer is not None
        return self._anchorer

    def set_anchor_policy(self, policy: AnchorPolicy) -> None:
        """Anchor with these TSAs from now on (instead of the configured ones)."""
        self._anchorer = Anchorer(
            self.store, self._save, policy, self.settings.origin,
            Actor("stele:log", "system", self.settings.operator_agency), self.clock,
            self.trust.tsa_roots)

    def _save(self, aggregate: ChainedAggregate) -> None:
        self.app.save(aggregate)

    def anchor(self, *, leased: bool = False) -> list[Anchored]:
        """Timestamp every checkpoint with new events (k of n TSAs); see ledger/longterm.
        `leased`: only if this process holds the anchoring lease (the background workers,
        so that N of them make one request per checkpoint and TSA, not N)."""
        return self.anchorer.run(self.lease.hold if leased else lambda: True)

    def anchored(self, size: int, tsa: str | None = None) -> tuple[bytes, bytes]:
        """(RFC 3161 token, RFC 4998 evidence record) of checkpoint `size` from `tsa`
        (default: the first TSA that answered)."""
        with self.store.transaction() as tx:
            found = [(token, record) for url, token, record in tx.anchored(size)
                     if tsa in (None, url)]
        if not found:
            raise NotAnchoredError(f"checkpoint {size} is not anchored"
                                   + (f" by {tsa}" if tsa else ""), size=size, tsa=tsa)
        return found[0]

    def anchoring_status(self) -> dict[str, Any]:
        """Anchored checkpoints, those waiting for a TSA, and evidence records due renewal."""
        with self.store.transaction() as tx:
            counts = tx.anchoring_counts()
        try:
            anchorer = self.anchorer
        except ConfigError as exc:  # no TSA configured: say so, the rest still reads
            return {**counts, "configured": False, "reason": exc.message}
        return {**counts, "configured": True, "waiting": anchorer.backlog(),
                "tsas": [t.url for t in anchorer.policy.tsas],
                "quorum": anchorer.policy.quorum,
                "renewal_due": [{"size": s, "tsa": t, "tsa_certificate_expires": e}
                                for s, t, e in due(anchorer, self.renewal_margin)]}

    @property
    def renewal_margin(self) -> timedelta:
        return timedelta(days=self.settings.renewal_margin_days)

    @property
    def lease(self) -> Lease:
        """The anchoring lease of this process: only its holder calls the TSAs."""
        if self._lease is None:
            self._lease = Lease(self.store, ANCHORING,
                                ttl=timedelta(seconds=self.settings.lease_seconds))
        return self._lease

    def renew_if_due(self) -> Renewal | None:
        """The scheduled renewal job, for the anchoring lease's holder: finish a renewal a
        crash left under way; else, at most every renewal_check_seconds across all processes,
        renew every evidence record if any TSA certificate in use expires within the margin,
        or if the committee stopped trusting the root a TSA in use chains to."""
        if not self.lease.hold():
            return None
        with self.store.transaction() as tx:
            resume = tx.open_renewal()
        if resume is not None:
            return renew(self.anchorer, reason=str(resume[4]), hold=self.lease.hold)
        now = self.clock()
        with self.store.transaction() as tx:  # the lease holder alone writes it
            checked = tx.meta("renewal_checked_at")
            if checked is not None and now < datetime.fromisoformat(checked) + timedelta(
                    seconds=self.settings.renewal_check_seconds):
                return None
            tx.put_meta("renewal_checked_at", now.isoformat())
        stopped = self.trust.stopped_tsa_anchors(self.clock())
        if stopped:
            names = ", ".join(f"{a.pki} {a.fingerprint} ({a.status})" for a in stopped)
            return renew(self.anchorer, reason=f"a TSA in use chains to an anchor that no "
                         f"longer vouches: {names}", hold=self.lease.hold)
        if not due(self.anchorer, self.renewal_margin):
            return None
        return renew(self.anchorer, reason="a TSA certificate in use expires within "
                     f"{self.settings.renewal_margin_days} days", hold=self.lease.hold)

    def audit_tsa_roots(self) -> list[bytes | TrustedRoot]:
        """The roots the audit checks stored timestamps against: the configured ones (the
        registry's window instead, for those also registered), and every registered
        time-stamping anchor for the tokens made while it was in force (a retired one still
        vouches for the tokens made before it retired; a suspended one for nothing)."""
        now = self.clock()
        registered = self.trust.vouching("timestamping", now)
        try:
            configured = list(self.anchorer.policy.trust_roots)
        except ConfigError:  # no TSA configured here: the registry's anchors alone
            configured = []
        known = {fingerprint(r.der) for r in registered}
        return [*registered, *(r for r in dict.fromkeys(configured)
                              if fingerprint(r) not in known)]
