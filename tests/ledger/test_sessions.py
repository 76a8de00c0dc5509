"""Web sessions in the store: a token exchanged for a session cookie whose hash alone is kept;
the session names its principal and CSRF token until it expires, is closed, or its principal is
revoked (both stores)."""

from __future__ import annotations

from datetime import timedelta

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
