"""Principals' tokens and web sessions in the store (both stores): a token exchanged for a
session cookie whose hash alone is kept, the session naming its principal and CSRF token until
it expires, is closed, or its principal is revoked; and how soon a revocation holds."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from ledger.access import principals
from ledger.config import Settings
from ledger.service import Ledger


def test_a_session_lives_until_closed(settings: Settings) -> None:
    with Ledger(settings) as ledger:
        principal, _ = ledger.principals.add(name="A", role="auditor", agency="000.00.00.A01")
        session, csrf = ledger.principals.open_session(principal, timedelta(hours=1))
        found = ledger.principals.session(session)
        assert found is not None and found[0].id == principal.id and found[1] == csrf
        assert ledger.principals.session(session + "x") is None
        with ledger.store.transaction() as tx:  # only the hash is stored
            stored = tx.execute(f"SELECT id_hash FROM {ledger.store.prefix}stele_sessions"
                                ).fetchall()
        assert session.encode() not in bytes(stored[0][0])
        ledger.principals.close_session(session)
        assert ledger.principals.session(session) is None


def test_a_session_ends_when_it_expires_or_its_principal_is_revoked(settings: Settings) -> None:
    with Ledger(settings) as ledger:
        principal, _ = ledger.principals.add(name="C", role="committee", agency="000.00.00.C01")
        expired, _ = ledger.principals.open_session(principal, timedelta(seconds=-1))
        assert ledger.principals.session(expired) is None
        live, _ = ledger.principals.open_session(principal, timedelta(hours=1))
        assert ledger.principals.session(live) is not None
        ledger.principals.revoke(principal.id)
        assert ledger.principals.session(live) is None


def test_a_revocation_is_immediate_here_and_within_a_second_elsewhere(
        settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tokens are remembered for KNOWN_SECONDS per process: revoking in this process forgets
    them at once; a revocation by another process (the CLI, another worker) holds here once
    that time has passed."""
    monkeypatch.setattr(principals, "KNOWN_SECONDS", 0.3)
    with Ledger(settings) as here, Ledger(settings) as elsewhere:
        one, token = here.principals.add(name="A", role="agency", agency="000.00.00.G01")
        two, other = here.principals.add(name="B", role="agency", agency="000.00.00.G01")
        assert here.principals.authenticate(token) == one
        assert here.principals.authenticate(other) == two
        here.principals.revoke(one.id)
        assert here.principals.authenticate(token) is None  # at once
        assert here.principals.authenticate(other) == two  # asked again, remembered again
        elsewhere.principals.revoke(two.id)
        assert here.principals.authenticate(other) == two  # remembered a moment longer
        time.sleep(0.35)
        assert here.principals.authenticate(other) is None
