"""A ledger that anchors with the development PKI's TSAs on a pinned clock, and evidence bundles
made from it: the ground the bundle, tamper and long-term tests stand on."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from cryptography.hazmat.primitives import serialization

from ledger.bundle import export
from ledger.dev.pki import DevPki
from ledger.dev.tsa import LocalTsa, TimeStampAuthority
from ledger.longterm.anchoring import AnchorPolicy
from ledger.service import Ledger
from tests.conftest import Clock
from tests.ledger.builders import AGENCY, create
from tests.pki import register_roots, sign_both


def dev_tsa(pki: DevPki, name: str, clock: Clock) -> LocalTsa:
    """The dev PKI's TSA `name` ("tsa" or "tsa2"), in-process, dating tokens by `clock`."""
    return LocalTsa(TimeStampAuthority(pki.tsa_identity(name)), url=f"dev:{name}", clock=clock)


def roots_der(pki: DevPki) -> list[bytes]:
    """What an auditor trusts: the two roots, nothing from the bundle."""
    return [r.public_bytes(serialization.Encoding.DER) for r in pki.roots.values()]


@dataclass
class Scene:
    ledger: Ledger
    pki: DevPki
    clock: Clock
    record: str
    document: bytes

    def bundle(self, *, with_content: bool = True) -> bytes:
        self.ledger.sync()
        return export(self.ledger, self.record, with_content=with_content)


def signed_record(ledger: Ledger, pki: DevPki, clock: Clock, document: bytes, *,
                  number: int = 1, tsa: str = "tsa") -> Scene:
    """`document` (signed by `individual` and `agency`) registered, both signatures recorded,
    and everything anchored by the dev TSA `tsa`."""
    ledger.set_anchor_policy(AnchorPolicy([dev_tsa(pki, tsa, clock)], 1, roots_der(pki)))
    if not ledger.trust.anchors():
        register_roots(ledger, pki)
    rid = create(ledger, number, body=document)
    ledger.execute(AGENCY, sign_both(ledger, AGENCY, rid, pki))
    ledger.sync()
    return Scene(ledger, pki, clock, rid, document)


def years(clock_start: datetime, n: int) -> datetime:
    return clock_start.replace(year=clock_start.year + n)
