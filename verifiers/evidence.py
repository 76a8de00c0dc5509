"""Long-term proof: an RFC 4998 evidence record verified as §5.3 says, with every archive
timestamp validated at the right time.

(1) the data object is bound by the record's hash trees and renewals (`ers.verify_binding`);
(2) each archive timestamp is a sound RFC 3161 token (signature, ESSCertID, critical
timeStamping EKU, imprint) whose TSA certificate chains to a trusted root and was valid when
its successor was made (the successor's genTime is proof that it existed then); (3) the newest
is valid at `at` (now, or any time an auditor asks about). No original certificate needs to be
valid today: only the newest TSA's, at `at`. The proof of existence of the data is the first
token's genTime.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from verifiers.errors import VerificationError
from verifiers.ers import verify_binding
from verifiers.report import Check, Report, Verdict
from verifiers.timestamp import Revocation, TrustedRoot, verify_timestamp


def verify_evidence_record(
    er_der: bytes,
    *,
    data: bytes,
    trust_roots: Sequence[bytes | TrustedRoot],
    at: datetime,
    crls: Sequence[bytes] = (),
    ocsps: Sequence[bytes] = (),
    revocation: Revocation = "soft",
) -> Report:
    """A report of every check, with a bottom line; never raises for what it finds."""
    try:
        binding = verify_binding(er_der, data_objects=[data])
    except VerificationError as exc:
        return Report((Check("evidence.parse", Verdict.FAILED, exc.code, exc.message,
                             exc.evidence),))
    checks = [Check(f"evidence.{c.name}", c.verdict, c.code, c.message, c.evidence)
              for c in binding.checks]
    entries = binding.entries
    for i, entry in enumerate(entries):
        # RFC 4998 §5.3 (4): valid when the next archive timestamp was made; the last at `at`.
        when = entries[i + 1].gen_time if i + 1 < len(entries) else at
        name = f"ats[{entry.chain}.{entry.position}]"
        try:
            report = verify_timestamp(
                entry.token, data_digest=entry.imprint, hash_alg=entry.digest_algorithm,
                trust_roots=trust_roots, at=when, crls=crls, ocsps=ocsps, revocation=revocation)
        except VerificationError as exc:
            checks.append(Check(f"{name}.token", Verdict.FAILED, exc.code, exc.message,
                                exc.evidence))
            continue
        for check in report.checks:
            evidence = dict(check.evidence, validated_at=when.isoformat(),
                            gen_time=entry.gen_time.isoformat())
            checks.append(Check(f"{name}.{check.name}", check.verdict, check.code,
                                check.message, evidence))
    summary = {
        "bound": binding.bound,
        "archive_timestamps": len(entries),
        "proof_of_existence": entries[0].gen_time.isoformat() if entries else None,
        "validated_at": at.isoformat(),
    }
    return Report(tuple(checks), summary)
