"""transparency-dev/merkle's RFC 6962/9162 proof vectors, run through verifiers.merkle.

The vectors are vendored in tests/vectors/ (its README names their source and version). Each
file holds one case and says whether a correct verifier rejects it.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from verifiers.errors import VerificationError
from verifiers.merkle import verify_consistency, verify_inclusion

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
TESTDATA = VECTORS / "transparency-dev-merkle" / "testdata"

# The directories of plain RFC 9162 proofs, and their case counts at commit 417fb0c (the
# upstream subtree proofs of draft-ietf-plants-merkle-tree-certs are not vendored).
KINDS = {"inclusion": 98, "consistency": 98}


def _files(kind: str) -> list[Path]:
    return sorted((TESTDATA / kind).rglob("*.json"))


def _cases() -> list[Any]:
    if not TESTDATA.is_dir():
        # One case that fails with the reason: a missing vector set must not pass as empty.
        return [pytest.param(None, id="vectors-missing")]
    return [
        pytest.param(path, id=str(path.relative_to(TESTDATA)))
        for kind in KINDS
        for path in _files(kind)
    ]


def _b64(value: str) -> bytes:
    return base64.b64decode(value, validate=True)


def _run(case: dict[str, Any], kind: str) -> None:
    # Go's encoding/json writes a nil proof as null; it means an empty proof.
    proof = [_b64(p) for p in case["proof"] or []]
    if kind == "inclusion":
        verify_inclusion(
            case["leafIdx"], case["treeSize"], _b64(case["leafHash"]), proof, _b64(case["root"])
        )
    else:
        verify_consistency(
            case["size1"], case["size2"], proof, _b64(case["root1"]), _b64(case["root2"])
        )


@pytest.mark.parametrize("path", _cases())
def test_vector(path: Path | None) -> None:
    if path is None:
        pytest.fail(f"conformance vectors not found at {TESTDATA}")
    kind = path.relative_to(TESTDATA).parts[0]
    case = json.loads(path.read_text())
    if case["wantErr"]:
        with pytest.raises(VerificationError):
            _run(case, kind)
    else:
        _run(case, kind)


def test_the_whole_vector_set_is_run() -> None:
    if not TESTDATA.is_dir():
        pytest.fail(f"conformance vectors not found at {TESTDATA}")
    counts = {kind: len(_files(kind)) for kind in KINDS}
    assert counts == KINDS
    # Nothing else in the set goes unnoticed: every file is in one of the directories above.
    assert len(list(TESTDATA.rglob("*.json"))) == sum(KINDS.values())
    # Both verdicts are exercised.
    wants = [json.loads(p.read_text())["wantErr"] for kind in KINDS for p in _files(kind)]
    assert wants.count(False) >= 10
    assert wants.count(True) >= 150
