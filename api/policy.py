"""Who may do what: roles per action and per read. Custody (which agency may act on which
record) is the domain's rule; roles are checked here, before the domain sees a command."""

from __future__ import annotations

from ledger.principals import ROLES

WRITERS = frozenset({"agency", "archivist"})

# Operations anyone may call, without a token: transparency (checkpoints, key, proofs) and the
# inspectors' document check.
PUBLIC = frozenset({
    ("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/v1/log/checkpoint"),
    ("GET", "/v1/log/key"), ("GET", "/v1/log/proof/inclusion"),
    ("GET", "/v1/log/proof/consistency"), ("GET", "/v1/log/status"), ("POST", "/v1/verify"),
})
MAX_INDEX = 2**63 - 1  # leaf indexes, sizes and cursors are BIGINT

ACTION_ROLES: dict[str, frozenset[str]] = {
    "record.create": WRITERS,
    "record.sign": WRITERS,
    "record.file": WRITERS,
    "dossier.open": WRITERS,
    "dossier.close": WRITERS,
    "record.transfer.initiate": WRITERS,
    "record.transfer.receive": WRITERS,
    "record.transfer.reject": WRITERS,
    "record.access.change": WRITERS,
    "record.appraise": WRITERS,
    "record.hold.place": frozenset({"inspector", "archivist"}),
    "record.hold.release": frozenset({"inspector", "archivist"}),
    "record.destruction.approve": WRITERS,
    "record.destruction.execute": WRITERS,
    # The Government Cipher Committee decides which roots are trusted (DOMAIN.md).
    "trust.register": frozenset({"committee"}),
    "trust.suspend": frozenset({"committee"}),
    "trust.reinstate": frozenset({"committee"}),
    "trust.retire": frozenset({"committee"}),
}

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
