"""A ledger that anchors with the development PKI's TSAs on a pinned clock, and evidence bundles
made from it: the ground the bundle, tamper, forgery and long-term tests stand on."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from ledger.bundle import export
from ledger.config import Database, Settings
from ledger.dev.pki import DevPki, blank_pdf, sign_pdf
from ledger.dev.tsa import LocalTsa, TimeStampAuthority
from ledger.longterm.anchoring import AnchorPolicy
from ledger.service import Ledger
from tests.conftest import Clock
from tests.ledger.builders import AGENCY, create
from tests.pki import SIGNED_AT, make_pki, register_roots, sign_both
from verifiers.bundle import read_bundle

ORIGIN = "test.stele/log"


def dev_tsa(pki: DevPki, name: str, clock: Clock) -> LocalTsa:
    """The dev PKI's TSA `name` ("tsa" or "tsa2"), in-process, dating tokens by `clock`."""
    return LocalTsa(TimeStampAuthority(pki.tsa_identity(name)), url=f"dev:{name}", clock=clock)


def roots_der(pki: DevPki) -> list[bytes]:
    """What an auditor trusts: the two roots, nothing from the bundle."""
    return [r.public_bytes(serialization.Encoding.DER) for r in pki.roots.values()]


def roots_pem(pki: DevPki) -> bytes:
    """The same roots as a `--trust` file."""
    return b"".join(r.public_bytes(serialization.Encoding.PEM) for r in pki.roots.values())


def sqlite_settings(root: Path, *, origin: str = ORIGIN) -> Settings:
    """A ledger of its own on SQLite under `root`: its own data directory, so its own log
    key; checkpoints only when the tests sync."""
    return Settings(data_dir=root / "data",
                    database=Database(kind="sqlite", path=root / "ledger.sqlite3"),
                    origin=origin, checkpoint_every=1000, checkpoint_interval=3600, dev=True)


def signed_pdf(pki: DevPki, text: str) -> bytes:
    """A PDF of `text` signed (PAdES B-B) by `pki`'s individual, then its agency."""
    pdf = sign_pdf(blank_pdf(text), pki.party("individual"), pki=pki, field="Individual",
                   at=SIGNED_AT)
    return sign_pdf(pdf, pki.party("agency"), pki=pki, field="Agency",
                    at=SIGNED_AT + timedelta(minutes=5))


@dataclass
class Scene:
    ledger: Ledger
    pki: DevPki
    clock: Clock
    record: str
    document: bytes

    def bundle(self, *, with_content: bool = True) -> bytes:
        self.ledger.log.sync()
        return export(self.ledger, self.record, with_content=with_content)


def signed_record(ledger: Ledger, pki: DevPki, clock: Clock, document: bytes, *,
                  number: int = 1, tsa: str = "tsa") -> Scene:
    """`document` (signed by `individual` and `agency`) registered, both signatures recorded,
    and everything anchored by the dev TSA `tsa`."""
    ledger.longterm.set_anchor_policy(AnchorPolicy([dev_tsa(pki, tsa, clock)], 1, roots_der(pki)))
    if not ledger.trust.anchors():
        register_roots(ledger, pki)
    rid = create(ledger, number, body=document)
    ledger.records.execute(AGENCY, sign_both(ledger, AGENCY, rid, pki))
    ledger.log.sync()
    return Scene(ledger, pki, clock, rid, document)


def years(clock_start: datetime, n: int) -> datetime:
    return clock_start.replace(year=clock_start.year + n)


@dataclass(frozen=True)
class Forgery:
    """A whole log a forger made around a document of their own: their own log key, their own
    TSA and their own PKI (named as the real ones are), so that the bundle agrees with itself
    in every respect; only the log key and the roots an auditor pins can tell it apart."""

    bundle: dict[str, bytes]
    pki: DevPki
    log_key: str
    document: bytes

    def roots(self) -> list[bytes]:
        return roots_der(self.pki)


def forged_log(root: Path, start: datetime, text: str, *, origin: str = ORIGIN) -> Forgery:
    """The forger's log under `root`, on a clock from `start`: record number 1 (the same id as
    the real one: ids are derived from the registration data), holding `text` signed by the
    forger's own individual and agency, anchored by the forger's own TSA."""
    pki = make_pki(root / "pki")
    document = signed_pdf(pki, text)
    clock = Clock(start)
    with Ledger(sqlite_settings(root / "log", origin=origin), clock=clock) as ledger:
        scene = signed_record(ledger, pki, clock, document)
        bundle = read_bundle(scene.bundle())
        key = ledger.key.verifier
    return Forgery(bundle, pki, key, document)
