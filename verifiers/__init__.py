"""Stele's pure proof kernel.

Imports nothing else of Stele's, no database and no web code: an auditor runs it offline.
Each module owns one rule: canonical bytes and event hashes (`canonical`), per-record hash
chains (`chain`), RFC 9162 Merkle proofs (`merkle`), C2SP signed notes and checkpoints (`note`),
the full log audit from fetch functions (`log_audit`), RFC 3161 timestamp tokens (`timestamp`),
RFC 4998 evidence records (`ers`) and their long-term verification (`evidence`), and the
reports every verification returns (`report`).
"""
