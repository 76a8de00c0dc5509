"""The `stele` command's entry point. `stele verify` starts without the ledger (no database
drivers, no web framework): an auditor's offline check loads only the proof kernel."""

from __future__ import annotations

import sys


def main() -> None:
    if sys.argv[1:2] == ["verify"]:
        from api.cli.exits import run
        from api.cli.verify import verify

        run(verify, sys.argv[2:], "stele verify")
    else:
        from api.cli.main import main as full

        full()
