"""The TrustAnchor aggregate: committee-only, never deleted, judged as it stood at a time."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from domain.envelope import Actor
from domain.errors import AnchorStateError, CommitteeOnlyError, InvalidInputError
from domain.trust import TrustAnchor, anchor_id

COMMITTEE = Actor(id="bcy-1", role="committee", agency="000.00.00.G01")
CLERK = Actor(id="clerk-1", role="agency", agency="000.00.12.H29")
T0 = datetime(2024, 1, 1, tzinfo=UTC)
T_SUSPEND = datetime(2025, 3, 1, tzinfo=UTC)
T_REINSTATE = datetime(2025, 4, 1, tzinfo=UTC)
T_RETIRE = datetime(2025, 11, 25, tzinfo=UTC)


def _root_pem(cn: str = "Test Root", days: int = 3650) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(T0 - timedelta(days=1)).not_valid_after(T0 + timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


@pytest.fixture(scope="module")
def root() -> str:
    return _root_pem()


def _anchor(root: str, **kw: str) -> TrustAnchor:
    return TrustAnchor.register(actor=COMMITTEE, at=T0, certificate=root, pki="NEAC",
                                purposes=["signing"], **kw)


def test_register_names_the_root_by_fingerprint_and_keeps_the_certificate(root: str) -> None:
    anchor = _anchor(root)
    assert anchor.id == anchor_id(anchor.fingerprint)
    assert anchor.fingerprint.startswith("sha-256:")
    assert anchor.subject == "Common Name: Test Root"
    event = anchor.collect_events()[0]
    assert event.TYPE == "trust.anchor_registered"
    assert b'"certificate":"MII' in event.canonical()  # the DER itself is in the log


def test_only_the_committee_registers_or_changes_anchors(root: str) -> None:
    with pytest.raises(CommitteeOnlyError):
        TrustAnchor.register(actor=CLERK, at=T0, certificate=root, pki="NEAC",
                             purposes=["signing"])
    anchor = _anchor(root)
    for command in (anchor.suspend, anchor.retire):
        with pytest.raises(CommitteeOnlyError):
            command(actor=CLERK, at=T_SUSPEND, reason="x")


@pytest.mark.parametrize(("field", "value"), [
    ("certificate", "not a certificate"), ("purposes", ["encryption"]), ("purposes", []),
    ("purposes", "signing"), ("pki", " "),
])
def test_bad_registration_is_refused(root: str, field: str, value: object) -> None:
    params = {"certificate": root, "pki": "NEAC", "purposes": ["signing"], field: value}
    with pytest.raises(InvalidInputError):
        TrustAnchor.register(actor=COMMITTEE, at=T0, **params)


def test_window_must_be_ordered(root: str) -> None:
    with pytest.raises(InvalidInputError):
        _anchor(root, not_before="2025-01-01T00:00:00Z", not_after="2024-01-01T00:00:00Z")
    with pytest.raises(InvalidInputError):
        _anchor(root, not_before="2025-01-01")  # no time zone


def test_status_and_in_force_follow_the_history(root: str) -> None:
    anchor = _anchor(root)
    anchor.suspend(actor=COMMITTEE, at=T_SUSPEND, reason="key ceremony audit")
    anchor.reinstate(actor=COMMITTEE, at=T_REINSTATE, reason="audit passed")
    anchor.retire(actor=COMMITTEE, at=T_RETIRE, reason="NEAC root re-keyed")
    assert [s for _, s in anchor.transitions] == ["active", "suspended", "active", "retired"]
    day = timedelta(days=1)
    assert anchor.status_at(T0 - day) is None
    assert anchor.status_at(T_SUSPEND + day) == "suspended"
    assert anchor.status_at(T_REINSTATE + day) == "active"
    # As it stood while suspended, it vouched for nothing.
    assert anchor.in_force(T_SUSPEND, T_SUSPEND + day) == "suspended"
    # Judged later, the same signature counts: the suspension was lifted.
    assert anchor.in_force(T_SUSPEND, T_REINSTATE + day) is None
    # Retired: still vouches for what was signed before retirement, not after.
    later = T_RETIRE + 365 * day
    assert anchor.in_force(T_RETIRE - day, later) is None
    assert anchor.in_force(T_RETIRE + day, later) == "retired before the signature was made"
    # Outside its window.
    assert "window" in (anchor.in_force(T0 + 20 * 365 * day, T0 + day) or "")


def test_a_retired_anchor_stays_retired(root: str) -> None:
    anchor = _anchor(root)
    anchor.retire(actor=COMMITTEE, at=T_RETIRE, reason="re-keyed")
    for command in (anchor.suspend, anchor.reinstate, anchor.retire):
        with pytest.raises(AnchorStateError):
            command(actor=COMMITTEE, at=T_RETIRE + timedelta(days=1), reason="again")


def test_reinstating_an_active_anchor_is_refused(root: str) -> None:
    with pytest.raises(AnchorStateError):
        _anchor(root).reinstate(actor=COMMITTEE, at=T_SUSPEND, reason="nothing to lift")


def test_a_certificate_may_be_given_as_base64_der(root: str) -> None:
    # Regression: base64 input was decoded with altchars=True and always refused.
    der = x509.load_pem_x509_certificate(root.encode()).public_bytes(serialization.Encoding.DER)
    anchor = TrustAnchor.register(actor=COMMITTEE, at=T0, certificate=base64.b64encode(der)
                                  .decode(), pki="BCY", purposes=["timestamping"])
    assert anchor.fingerprint == _anchor(root).fingerprint
