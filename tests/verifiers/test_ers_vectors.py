"""EU DSS's RFC 4998 evidence records (tests/vectors/dss-ers), run through verifiers.ers. The
vectors are vendored in tests/vectors/ (its README names their source and version). cases.json
pairs each record with a data set and says whether a correct verifier finds the data bound (hash
arithmetic only: the test TSA certificates have expired).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from verifiers.errors import MalformedError, VerificationError
from verifiers.ers import BindingReport, parse_evidence_record, verify_binding
from verifiers.report import Verdict

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
DSS_ERS = VECTORS / "dss-ers"

# At DSS commit d9473b8: 37 (record, data set) pairs, 26 bound and 11 not.
CASES, POSITIVE, NEGATIVE = 37, 26, 11


def _load() -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = json.loads((DSS_ERS / "cases.json").read_text())
    return cases


def _cases() -> list[Any]:
    if not (DSS_ERS / "cases.json").is_file():
        # One case that fails with the reason: a missing vector set must not pass as empty.
        return [pytest.param(None, id="vectors-missing")]
    return [
        pytest.param(case, id=f"{n:02d}-{case['ers']}-{'bound' if case['expect_bound'] else 'not'}")
        for n, case in enumerate(_load())
    ]


def _malformed(case: dict[str, Any]) -> bool:
    return any(check.startswith("parse error") for check in case.get("failing_checks", []))


def _verify(case: dict[str, Any]) -> BindingReport:
    data = [bytes.fromhex(d) for d in case["data_objects"]]
    digests = [
        {alg: bytes.fromhex(value) for alg, value in item.items()}
        for item in case.get("data_object_digests", [])
    ]
    return verify_binding((DSS_ERS / case["ers"]).read_bytes(), data, digests)


def test_case_count() -> None:
    assert DSS_ERS.is_dir(), f"vectors not found at {DSS_ERS}"
    cases = _load()
    assert len(cases) == CASES
    assert sum(c["expect_bound"] for c in cases) == POSITIVE
    assert sum(not c["expect_bound"] for c in cases) == NEGATIVE


@pytest.mark.parametrize("case", _cases())
def test_dss_case(case: dict[str, Any] | None) -> None:
    assert case is not None, f"vectors not found at {DSS_ERS}"
    if _malformed(case):
        # A record that does not parse is never bound, and says so with MalformedError.
        with pytest.raises(MalformedError):
            _verify(case)
        with pytest.raises(MalformedError):
            parse_evidence_record((DSS_ERS / case["ers"]).read_bytes())
        return
    report = _verify(case)
    assert report.bound is case["expect_bound"], [c.line() for c in report.failures]
    assert (not report.failures) is case["expect_bound"]
    if not case["expect_bound"]:
        # Every failure carries a stable code, and the report's bottom line is not PASSED.
        assert all(c.code for c in report.failures)
        assert report.as_report().bottom_line is not Verdict.PASSED
        with pytest.raises(VerificationError):
            report.raise_for_failure()
    else:
        report.raise_for_failure()
        assert report.as_report().bottom_line is Verdict.PASSED


@pytest.mark.parametrize("case", _cases())
def test_dss_case_layout(case: dict[str, Any] | None) -> None:
    """The record is read as cases.json describes it: chains, ATS counts, algorithms, kinds,
    and (for records that verify) which imprints match."""
    assert case is not None, f"vectors not found at {DSS_ERS}"
    if _malformed(case):
        pytest.skip("does not parse (checked by test_dss_case)")
    report = _verify(case)
    chains = [[e for e in report.entries if e.chain == i] for i in range(case["chains"])]
    assert len(report.entries) == sum(case["archive_timestamps"])
    assert [len(chain) for chain in chains] == case["archive_timestamps"]
    for chain, algorithm, layout in zip(
        chains, case["chain_digest_algorithms"], case["layout"], strict=True
    ):
        assert [e.position for e in chain] == list(range(len(chain)))
        assert [e.digest_algorithm for e in chain] == [a["digest_algorithm"] for a in layout]
        assert {e.digest_algorithm for e in chain} == {algorithm}
        assert [e.kind for e in chain] == [a["kind"] for a in layout]
    if case["expect_bound"]:
        assert all(e.imprint_matched for e in report.entries)
    stamps = report.timestamps()
    assert [t for t, _ in stamps] == [e.token for e in report.entries]
    assert [g for _, g in stamps] == sorted(g for _, g in stamps)
    assert all(g.tzinfo is not None for _, g in stamps)
    record = (DSS_ERS / case["ers"]).read_bytes()
    assert all(token in record for token, _ in stamps)  # each token as stored


@pytest.mark.parametrize("name", sorted({"BIN-1_ER.ers", "er-asn1-tst-renewal.ers", "LKSG_4.ers"}))
def test_damaged_records_raise_only_malformed(name: str) -> None:
    """Truncations and appended bytes are MalformedError, never a builtin exception."""
    if not DSS_ERS.is_dir():
        pytest.fail(f"vectors not found at {DSS_ERS}")
    record = (DSS_ERS / name).read_bytes()
    assert parse_evidence_record(record).dump() == record
    for cut in range(0, len(record), 7):
        with pytest.raises(MalformedError):
            verify_binding(record[:cut], [b"x"])
    for tail in (b"\x00", b"\x30\x00", record[:10]):
        with pytest.raises(MalformedError):
            verify_binding(record + tail, [b"x"])
