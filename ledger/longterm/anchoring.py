"""Anchoring: every checkpoint with new events is timestamped by the configured TSAs (k of n),
over SHA-256 of its signed note bytes; each token is checked before it is stored, starts an
RFC 4998 evidence record whose data object is the note, and is appended to the log as a
`log.anchored` entry so that later checkpoints cover it.

A TSA that is down never blocks writes: its checkpoints wait (`stele log status` shows the
backlog) and the next run retries, oldest first. Each step is idempotent, so a crash anywhere
is finished by the next run: a stored token whose entry is not yet in the log is logged then.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from eventsourcing.persistence import IntegrityError

from domain.anchor import LogAnchor
from domain.chained import ChainedAggregate
from domain.envelope import Actor
from ledger.config import Settings
from ledger.dev.tsa import LocalTsa, TimeStampAuthority, is_development_certificate, load_or_create
from ledger.errors import ConfigError, LedgerError
from ledger.longterm.tsa_client import HttpTsa, Tsa, TsaRequestError, request_token
from ledger.store.tables import LogStore, Tx
from verifiers.canonical import b64
from verifiers.certs import fingerprint
from verifiers.digest import Digest, digest_of
from verifiers.errors import VerificationError
from verifiers.ers import new_evidence_record, verify_binding
from verifiers.report import Verdict
from verifiers.timestamp import parse_token, signer_certificate, verify_timestamp

log = structlog.get_logger("stele.anchor")


@dataclass(frozen=True)
class AnchorPolicy:
    tsas: Sequence[Tsa]
    quorum: int
    trust_roots: Sequence[bytes]  # DER certificates of the TSA roots we accept


@dataclass(frozen=True)
class Anchored:
    size: int
    tsa: str
    gen_time: str


def anchor_policy(settings: Settings) -> AnchorPolicy:
    """The configured TSAs and roots; with none configured and development trust asked for,
    the built-in development TSA of the data directory (in-process), whose root is then the
    one trusted. Production never falls back to it."""
    if settings.tsa_urls:
        assert settings.tsa_roots is not None  # Settings.from_env insists
        try:
            roots = [c.public_bytes(serialization.Encoding.DER) for c in
                     x509.load_pem_x509_certificates(settings.tsa_roots.read_bytes())]
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read STELE_TSA_ROOTS {settings.tsa_roots}: {exc}") from None
        if not settings.dev and any(is_development_certificate(r) for r in roots):
            raise ConfigError(f"STELE_TSA_ROOTS {settings.tsa_roots} holds a development root; "
                              "production never trusts it (use --dev for development)")
        return AnchorPolicy([HttpTsa(u) for u in settings.tsa_urls], settings.tsa_quorum, roots)
    if not settings.dev:
        raise ConfigError(
            "no time-stamping authority configured: set STELE_TSA_URLS (and STELE_TSA_ROOTS) "
            "to the RFC 3161 TSAs that anchor this log, or run with --dev (STELE_ENV=dev) for "
            "the built-in development TSA")
    identity = load_or_create(settings.data_dir / "tsa")
    return AnchorPolicy([LocalTsa(TimeStampAuthority(identity))], 1,
                        [identity.root.public_bytes(serialization.Encoding.DER)])


@dataclass(frozen=True)
class Stamp:
    """A timestamp token read once: when, and by which certificate (named by the SignerInfo's
    issuer and serial or subject key identifier), with the certificates it carries."""

    der: bytes
    gen_time: datetime
    tsa: x509.Certificate
    embedded: tuple[x509.Certificate, ...]


def read_stamp(token_der: bytes) -> Stamp:
    try:
        token = parse_token(token_der)
        signer = signer_certificate(token)
    except VerificationError as exc:
        raise LedgerError(f"a timestamp that cannot be read: {exc.message}",
                          reason=exc.code) from None
    return Stamp(token_der, token.gen_time, x509.load_der_x509_certificate(signer),
                 tuple(x509.load_der_x509_certificate(c) for c in token.certificates))


def newest_tsa_expiry(record: bytes) -> datetime:
    """When the certificate of a record's newest timestamp expires: the proof lapses then."""
    token, _ = verify_binding(record).timestamps()[-1]
    return read_stamp(token).tsa.not_valid_after_utc


def issuing_root(stamp: Stamp, roots: Sequence[bytes]) -> str | None:
    """Fingerprint of the root a (verified) token's TSA certificate chains to. Each link is
    checked by signature, not by name: two roots may bear the same name (a re-keyed root)."""
    current = stamp.tsa
    anchors = [(r, x509.load_der_x509_certificate(r)) for r in roots]
    for _ in range(8):
        for der, root in anchors:
            if _issued_by(current, root):
                return fingerprint(der)
        parent = next((c for c in stamp.embedded if c != current and _issued_by(current, c)),
                      None)
        if parent is None:
            return None
        current = parent
    return None


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def utc_text(moment: datetime) -> str:
    """One text form for stored expiry times, so that they compare as text."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def note_digest(note: str) -> bytes:
    """What a checkpoint's timestamp covers: SHA-256 of the signed note's bytes, as served."""
    return hashlib.sha256(note.encode("utf-8")).digest()


class Anchorer:
    def __init__(self, store: LogStore, save: Callable[[ChainedAggregate], None],
                 policy: AnchorPolicy,
                 origin: str, actor: Actor, clock: Callable[[], datetime],
                 registry: Callable[[datetime], tuple[list[bytes], set[str]]] = (
                     lambda _: ([], set()))) -> None:
        self.store = store
        self.registry = registry  # (registered TSA roots that vouch, anchors that do not)
        self.save = save
        self.policy = policy
        self.origin = origin
        self.actor = actor
        self.clock = clock

    # -- what is due -----------------------------------------------------------------------------
    def backlog(self) -> list[int]:
        """Sizes of checkpoints with new events that still lack their quorum of tokens."""
        with self.store.transaction(snapshot=True) as tx:
            return [size for size, _ in self._due(tx)[0]]

    def _due(self, tx: Tx) -> tuple[list[tuple[int, str]], int]:
        """(size, note) of the checkpoints after the scan mark that have new events, and the
        last checkpoint size this read saw: one snapshot, so a checkpoint cut meanwhile is
        either in both or in neither (never marked scanned unanchored)."""
        scanned = int(tx.meta("anchor_scan") or "0")
        due, previous = [], scanned
        for size, _, note, _ in tx.checkpoints_after(scanned):
            if _has_events(tx, previous, size):
                due.append((size, note))
            previous = size
        return due, previous

    # -- anchoring ---------------------------------------------------------------------------------
    def run(self, hold: Callable[[], bool] = lambda: True) -> list[Anchored]:
        """Anchor every due checkpoint, oldest first; stop at the first that cannot reach its
        quorum (the TSAs are down: retry later), or once `hold` (the anchoring lease) says
        another process holds the lease: only its holder calls the TSAs."""
        done: list[Anchored] = []
        if not hold():
            return done
        self._log_unlogged()
        with self.store.transaction(snapshot=True) as tx:
            due, last = self._due(tx)
        for size, note in due:
            got = self._anchor(size, note, hold)
            done += got
            if self._tokens(size) < self.policy.quorum:
                log.warning("anchor.waiting", size=size, tokens=self._tokens(size),
                            quorum=self.policy.quorum)
                return done
            self._scanned(size)
        # Checkpoints of anchor entries only need no timestamp of their own.
        self._scanned(last)
        self._log_unlogged()
        return done

    def _tokens(self, size: int) -> int:
        with self.store.transaction() as tx:
            return len(tx.timestamps(size))

    def _scanned(self, size: int) -> None:
        with self.store.transaction(exclusive=True) as tx:
            current = int(tx.meta("anchor_scan") or "0")
            if size > current:
                tx.put_meta("anchor_scan", str(size))

    def _anchor(self, size: int, note: str, hold: Callable[[], bool]) -> list[Anchored]:
        digest = note_digest(note)
        with self.store.transaction() as tx:
            have = {tsa for tsa, _, _ in tx.timestamps(size)}
        done = []
        for tsa in self.policy.tsas:
            if tsa.url in have:
                continue
            if not hold():
                break  # the lease went to another process: it anchors from here
            try:
                token = request_token(tsa, digest)
                stamp = read_stamp(token.der)
                self.check(stamp, digest)
            except (TsaRequestError, VerificationError, LedgerError) as exc:
                log.warning("anchor.tsa_failed", size=size, tsa=tsa.url, error=str(exc))
                continue
            gen_time = stamp.gen_time
            record = new_evidence_record(None, token.der, "sha256")
            with self.store.transaction() as tx:
                tx.add_timestamp(size, tsa.url, token.der, gen_time.isoformat(), record,
                                 self.clock().isoformat(),
                                 utc_text(stamp.tsa.not_valid_after_utc))
            done.append(Anchored(size, tsa.url, gen_time.isoformat()))
            log.info("anchor.stored", size=size, tsa=tsa.url, gen_time=gen_time.isoformat())
        return done

    def roots(self) -> list[bytes]:
        """The TSA roots trusted now: the configured ones and the registry's time-stamping
        anchors in force, less any the registry has suspended or retired."""
        registered, stopped = self.registry(self.clock())
        return [r for r in dict.fromkeys([*self.policy.trust_roots, *registered])
                if fingerprint(r) not in stopped]

    def check(self, stamp: Stamp, digest: bytes, hash_alg: str = "sha256") -> str | None:
        """Every check before a token is stored: imprint, signature, ESSCertID, critical
        timeStamping EKU, and a path to a trusted TSA root now. Returns that root's
        fingerprint."""
        roots = self.roots()
        # Revocation is checked where data is supplied; nothing is fetched (no network by
        # default), and the built-in TSA publishes no CRL: "soft" until TSAs are registered
        # with their revocation sources (the trust-anchor registry).
        report = verify_timestamp(stamp.der, data_digest=digest, hash_alg=hash_alg,
                                  trust_roots=roots, at=self.clock(), revocation="soft")
        if report.bottom_line is not Verdict.PASSED:
            failed = [c.line() for c in report.failures]
            raise LedgerError("the TSA's token does not verify", checks=failed)
        return issuing_root(stamp, roots)

    def _log_unlogged(self) -> None:
        """Append a `log.anchored` entry for every stored token not yet in the log."""
        with self.store.transaction() as tx:
            pending = tx.unlogged_timestamps()
            notes = {size: (row[1], row[2]) for size in {p[0] for p in pending}
                     if (row := tx.checkpoint(size)) is not None}
        roots = self.roots() if pending else []
        for size, tsa, token in pending:
            root, note = notes[size]
            stamp = read_stamp(token)
            entry = LogAnchor.anchor(
                actor=self.actor, at=self.clock(), origin=self.origin, size=size, root=b64(root),
                note=Digest(note_digest(note)).format(), tsa=tsa,
                token=digest_of(token),
                gen_time=stamp.gen_time.astimezone(UTC).isoformat(),
                tsa_anchor=issuing_root(stamp, roots))
            # Saved before a crash but not marked: the store refuses it again; mark it now.
            with contextlib.suppress(IntegrityError):
                self.save(entry)
            with self.store.transaction() as tx:
                tx.mark_logged(size, tsa)


def _has_events(tx: Tx, start: int, end: int) -> bool:
    """True if leaves start..end hold anything other than the log's own entries."""
    for first in range(start, end, 64):  # the first leaf nearly always answers
        for *_, event in tx.leaves(first, min(first + 64, end)):
            if not event.endswith(b'"type":"log.anchored","v":1,"version":1}') and (
                not event.endswith(b'"type":"log.renewed","v":1,"version":1}')
            ):
                return True
    return False
