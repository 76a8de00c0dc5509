"""docs/transfers.md's worked example, run as written: two nodes, a transfer, a receipt, and
the received record verified from the receiving node's bundle."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "transfers.md"


def example() -> str:
    match = re.search(r"<!-- transfer-example -->\n```sh\n(.*?)```", DOC.read_text("utf-8"),
                      re.DOTALL)
    assert match is not None, "docs/transfers.md lost its worked example"
    return match.group(1)


@pytest.mark.slow
def test_the_documented_transfer_runs_as_written(tmp_path: Path) -> None:
    bin_dir = str(Path(sys.executable).parent)  # where `stele` is installed
    env = {k: v for k, v in os.environ.items() if not k.startswith("STELE_")}
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    done = subprocess.run(["bash", "-c", example()], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert "stele-transfer-receipt/v1" in lines
    assert '"outcome": "received"' in done.stdout
    assert lines[-1] == "PASSED"
