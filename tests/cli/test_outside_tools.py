"""What the ledger emits, checked by an implementation that is not ours: Go's
golang.org/x/mod/sumdb/tlog (RFC 6962/9162 hashes and proofs) and sumdb/note (signed notes).
The inputs come from the real command line, as an auditor would fetch them."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from tests.cli.test_cli import Stele
from tests.verifiers.test_go_interop import GoRun, go_checker  # noqa: F401 - the fixture
from verifiers.note import open_note, parse_checkpoint, parse_verifier_key

pytestmark = pytest.mark.slow  # runs the real command line, one process per call


def test_go_accepts_the_ledgers_leaves_proofs_and_checkpoints(
    tmp_path: Path, go_checker: GoRun  # noqa: F811
) -> None:
    stele = Stele(tmp_path, None)
    stele.run("demo", "--records", "4")
    first_note = stele.run("log", "checkpoint").stdout
    stele.run("demo", "--records", "3")
    note = stele.run("log", "checkpoint").stdout
    key_text = stele.run("log", "key").stdout.strip()
    key = parse_verifier_key(key_text)
    first = parse_checkpoint(open_note(first_note, [key]).text)
    latest = parse_checkpoint(open_note(note, [key]).text)
    lines = stele.run("log", "leaves", "--start", "0", "--end", str(latest.size)).stdout
    leaves = [json.loads(line)["leaf"] for line in lines.splitlines()]
    consistency = json.loads(stele.run("log", "consistency", "--first", str(first.size),
                                       "--second", str(latest.size)).stdout)["proof"]
    for index in (0, first.size - 1, first.size, latest.size - 1):
        inclusion = json.loads(stele.run("log", "prove", "--index", str(index)).stdout)["proof"]
        answer = go_checker({
            "leaves": leaves, "index": index, "size1": first.size, "size2": latest.size,
            "inclusion_proof": inclusion, "consistency_proof": consistency,
            "root1": base64.b64encode(first.root).decode(),
            "root2": base64.b64encode(latest.root).decode(),
            "note": note, "verifier_key": key_text,
        })
        assert answer["inclusion_error"] == "", answer
        assert answer["consistency_error"] == "", answer
        assert answer["note_error"] == "", answer
        assert base64.b64decode(answer["tree_hash1"]) == first.root
        assert base64.b64decode(answer["tree_hash2"]) == latest.root
        assert answer["note_text"] == open_note(note, [key]).text
