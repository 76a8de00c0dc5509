"""Stele's pure proof kernel.

Imports nothing else of Stele's, no database and no web code: an auditor runs it offline.
Each module owns one rule: canonical bytes and event hashes (`canonical`), per-record hash
chains (`chain`), RFC 9162 Merkle proofs (`merkle`), C2SP signed notes and checkpoints (`note`),
C2SP cosignatures (`cosignature`), witness policies and quorums (`policy`), the witness
protocol's request and equivocation evidence (`witness`),
the full log audit from fetch functions (`log_audit`), the log as C2SP tlog-tiles and its
audit from those files alone (`tiles`), RFC 3161 timestamp tokens (`timestamp`),
RFC 4998 evidence records (`ers`) and their long-term verification (`evidence`), and the
reports every verification returns (`report`).
"""

import warnings

from cryptography.utils import CryptographyDeprecationWarning

# pyHanko imports cryptography's DSA key types at import time (pyhanko/sign/signers/pdf_cms.py),
# and cryptography 51 deprecates DSA with a warning at that import, so every `stele` command
# would start with two lines about a key type it never uses. Silenced for that message, that
# category and pyHanko's modules only; any other warning still shows.
warnings.filterwarnings("ignore", message="DSA is deprecated",
                        category=CryptographyDeprecationWarning, module=r"pyhanko(\.|$)")
