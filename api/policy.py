"""Who may do what: roles per action and per read. Custody (which agency may act on which
record) is the domain's rule; roles are checked here, before the domain sees a command."""

from __future__ import annotations

WRITERS = frozenset({"agency", "archivist"})

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
}

# Reading records and their content: auditors read everything; agencies and archives read the
# records they registered or hold.
READ_ALL = frozenset({"auditor"})
READ_OWN = WRITERS
LOG_LEAVES = frozenset({"auditor"})  # leaves carry record metadata
UPLOAD = WRITERS
ADMIN = frozenset({"admin"})
