"""Principals: who may call the API. Tokens are random, shown once, stored only as SHA-256.

A token is `stl_` followed by 32 random bytes in base64url: high-entropy, so a plain SHA-256
is enough to store it (no password hashing needed), and lookup is one indexed equality.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from domain.errors import InvalidInputError
from domain.metadata import check_agency_code, check_text
from ledger.errors import NotFoundError
from ledger.store.tables import LogStore

ROLES = ("agency", "archivist", "auditor", "inspector", "committee", "catalog_manager", "admin")
TOKEN_PREFIX = "stl_"  # noqa: S105 - a prefix that marks Stele tokens, not a secret


@dataclass(frozen=True)
class Principal:
    id: str
    name: str
    role: str
    agency: str
    created_at: str
    revoked_at: str | None = None

    def as_json(self) -> dict[str, str | None]:
        return {"id": self.id, "name": self.name, "role": self.role, "agency": self.agency,
                "created_at": self.created_at, "revoked_at": self.revoked_at}


def _hash(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


# How long a token's principal is remembered in a process without asking the store: a
# revocation here is immediate (it forgets them all); one made by another process (the CLI,
# another server worker) takes effect here within this time.
KNOWN_SECONDS = 1.0
KNOWN_MAX = 10_000


class Principals:
    def __init__(self, store: LogStore) -> None:
        self.store = store
        self._known: dict[bytes, tuple[Principal, float]] = {}  # token hash -> (who, until)

    def add(self, *, name: str, role: str, agency: str) -> tuple[Principal, str]:
        """A new principal and its token (the only time the token exists in clear)."""
        check_text(name, "name", max_len=200)
        if role not in ROLES:
            raise InvalidInputError(f"role must be one of {ROLES}", role=role)
        check_agency_code(agency, "agency")
        random = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
        token = TOKEN_PREFIX + random
        principal = Principal(id="p_" + secrets.token_hex(8), name=name, role=role,
                              agency=agency, created_at=datetime.now(UTC).isoformat())
        with self.store.transaction() as tx:
            tx.execute(
                f"INSERT INTO {self.store.prefix}stele_principals"
                " (id, name, role, agency, token_hash, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (principal.id, name, role, agency, _hash(token), principal.created_at),
            )
        return principal, token

    def authenticate(self, token: str) -> Principal | None:
        """The live principal holding `token`, or None (remembered for KNOWN_SECONDS)."""
        if not token.startswith(TOKEN_PREFIX):
            return None
        digest = _hash(token)
        known = self._known.get(digest)
        if known is not None and known[1] > time.monotonic():
            return known[0]
        with self.store.transaction() as tx:
            row = tx.execute(
                f"SELECT id, name, role, agency, created_at, revoked_at"
                f" FROM {self.store.prefix}stele_principals WHERE token_hash = ?",
                (digest,),
            ).fetchone()
        if row is None or row[5] is not None:
            self._known.pop(digest, None)
            return None
        principal = Principal(*[str(v) for v in row[:5]])
        if len(self._known) >= KNOWN_MAX:
            self._known.clear()
        self._known[digest] = (principal, time.monotonic() + KNOWN_SECONDS)
        return principal

    def list(self) -> list[Principal]:
        with self.store.transaction() as tx:
            rows = tx.execute(
                f"SELECT id, name, role, agency, created_at, revoked_at"
                f" FROM {self.store.prefix}stele_principals ORDER BY created_at, id"
            ).fetchall()
        return [Principal(*[None if v is None else str(v) for v in r]) for r in rows]  # type: ignore[arg-type]

    def revoke(self, principal_id: str) -> Principal:
        self._known.clear()  # immediate here; elsewhere within KNOWN_SECONDS
        with self.store.transaction() as tx:
            tx.execute(
                f"UPDATE {self.store.prefix}stele_principals SET revoked_at = ?"
                " WHERE id = ? AND revoked_at IS NULL",
                (datetime.now(UTC).isoformat(), principal_id),
            )
        for principal in self.list():
            if principal.id == principal_id:
                return principal
        raise NotFoundError("no principal with that id", principal=principal_id)

    # Web sessions: the pages' login exchanges a token for a session cookie. The cookie is a
    # fresh random value whose hash alone is stored; revoking the principal ends its sessions.

    def open_session(self, principal: Principal, lifetime: timedelta) -> tuple[str, str]:
        """A new session of `principal`: its cookie value and its CSRF token."""
        session = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
        csrf = secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        with self.store.transaction() as tx:
            tx.execute(f"DELETE FROM {self.store.prefix}stele_sessions WHERE expires_at < ?",
                       (now.isoformat(),))
            tx.execute(
                f"INSERT INTO {self.store.prefix}stele_sessions"
                " (id_hash, principal, csrf, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
                (_hash(session), principal.id, csrf, now.isoformat(),
                 (now + lifetime).isoformat()))
        return session, csrf

    def session(self, session: str) -> tuple[Principal, str] | None:
        """The live principal of an unexpired session, and the session's CSRF token."""
        with self.store.transaction() as tx:
            row = tx.execute(
                f"SELECT p.id, p.name, p.role, p.agency, p.created_at, p.revoked_at, s.csrf"
                f" FROM {self.store.prefix}stele_sessions s"
                f" JOIN {self.store.prefix}stele_principals p ON p.id = s.principal"
                " WHERE s.id_hash = ? AND s.expires_at > ?",
                (_hash(session), datetime.now(UTC).isoformat()),
            ).fetchone()
        if row is None or row[5] is not None:
            return None
        return Principal(*[str(v) for v in row[:5]]), str(row[6])

    def close_session(self, session: str) -> None:
        with self.store.transaction() as tx:
            tx.execute(f"DELETE FROM {self.store.prefix}stele_sessions WHERE id_hash = ?",
                       (_hash(session),))
