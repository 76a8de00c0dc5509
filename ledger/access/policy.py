"""Who may do what: roles per action and per read. Custody (which agency may act on which
record) is the domain's rule; roles are checked here, before the domain sees a command."""

from __future__ import annotations

from typing import Any

from domain.errors import InvalidInputError
from ledger.access.principals import ROLES, Principal
from ledger.errors import ForbiddenError

WRITERS = frozenset({"agency", "archivist"})

# Operations anyone may call, without a token: transparency (checkpoints, key, proofs) and the
# inspectors' document check.
PUBLIC = frozenset({
    ("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/v1/log/checkpoint"),
    ("GET", "/v1/log/key"), ("GET", "/v1/log/proof/inclusion"),
    ("GET", "/v1/log/proof/consistency"), ("GET", "/v1/log/status"), ("POST", "/v1/verify"),
    ("GET", "/v1/log/tiles/{path}"), ("GET", "/v1/log/checkpoint/witnessed"),
    # The witness: the log's signature is add-checkpoint's authority (C2SP tlog-witness).
    ("POST", "/add-checkpoint"), ("GET", "/v1/witness"), ("GET", "/v1/witness/cosigned"),
    ("GET", "/v1/witness/evidence"),
    # Shared catalogs are open data: the list, each version, each code's history.
    ("GET", "/v1/catalogs"), ("GET", "/v1/catalogs/{catalog}"),
    ("GET", "/v1/catalogs/{catalog}/{code}"),
})
# The web pages (api/http/web) are not API operations: each page checks its viewer's role
# itself (`need`), and the inspector's, the catalogs' and the login pages are open to anyone.
MAX_INDEX = 2**63 - 1  # leaf indexes, sizes and cursors are BIGINT

ACTION_ROLES: dict[str, frozenset[str]] = {
    "record.create": WRITERS,
    "record.sign": WRITERS,
    "record.file": WRITERS,
    "dossier.open": WRITERS,
    "dossier.close": WRITERS,
    "record.access.change": WRITERS,
    "record.appraise": WRITERS,
    # Inspectors on any record; agencies and archives on the records they hold (domain rule).
    "record.hold.place": WRITERS | {"inspector"},
    "record.hold.release": WRITERS | {"inspector"},
    "record.destruction.approve": WRITERS,
    "record.destruction.execute": WRITERS,
    # The Government Cipher Committee decides which roots are trusted (DOMAIN.md).
    "trust.register": frozenset({"committee"}),
    "trust.suspend": frozenset({"committee"}),
    "trust.reinstate": frozenset({"committee"}),
    "trust.retire": frozenset({"committee"}),
    # The State Records and Archives Department manages the shared catalogs.
    "catalog.publish": frozenset({"catalog_manager"}),
}

# Transfers: the custodian initiates one, exports its package and records the receiver's
# receipt; the destination's agency or archive receives a package (custody is the domain's
# rule, the destination the transfer service's).
TRANSFER = WRITERS

# Reading records and their content: auditors read everything; agencies and archives read the
# records they registered or hold.
READ_ALL = frozenset({"auditor"})
READ_OWN = WRITERS
LOG_LEAVES = frozenset({"auditor"})  # leaves carry record metadata
UPLOAD = WRITERS
ADMIN = frozenset({"admin"})
# Evidence bundles: auditors and inspectors (courts) for any record; agencies and archives for
# theirs.
EVIDENCE_READERS = READ_ALL | READ_OWN | frozenset({"inspector"})
TRUST_READERS = frozenset(ROLES)  # the registry is no secret: any principal reads it


def allow(principal: Principal, roles: frozenset[str], what: str) -> None:
    """Refuse unless the principal's role is one of `roles`."""
    if principal.role not in roles:
        raise ForbiddenError(f"role {principal.role!r} may not {what}", allowed=sorted(roles))


def check_action(principal: Principal, action: str) -> None:
    roles = ACTION_ROLES.get(action)
    if roles is None:
        raise InvalidInputError(f"unknown action {action!r}", known=sorted(ACTION_ROLES))
    allow(principal, roles, action)


def may_read(principal: Principal, creator: str, custodian: str) -> bool:
    """A record is read by auditors, and by the agency that registered or holds it."""
    return principal.role in READ_ALL or (
        principal.role in READ_OWN and principal.agency in (creator, custodian))


def may_read_evidence(principal: Principal, creator: str, custodian: str) -> bool:
    """Evidence (and the leaves in it): readers of the record, and inspectors (courts)."""
    return principal.role in EVIDENCE_READERS and (
        principal.role not in READ_OWN or principal.agency in (creator, custodian))


def check_read(principal: Principal, creator: str, custodian: str) -> None:
    if not may_read(principal, creator, custodian):
        raise ForbiddenError("this record is not your agency's", role=principal.role)


def listed_agency(principal: Principal, agency: str | None) -> str | None:
    """Which agency's records a listing may show: any for auditors, one's own otherwise."""
    if principal.role in READ_ALL:
        return agency
    allow(principal, READ_OWN, "list records")
    if agency not in (None, principal.agency):
        raise ForbiddenError("you may list only your agency's records")
    return principal.agency


def may_see(principal: Principal | None, state: dict[str, Any]) -> bool:
    """What the pages show of a record beyond its verdict (its history, signatures, proofs
    and evidence bundle): an open record's to anyone, another's to those who may read its
    evidence."""
    if (state.get("metadata") or {}).get("access") == "open":
        return True
    return principal is not None and may_read_evidence(
        principal, state.get("creator", state["custodian"]), state["custodian"])
