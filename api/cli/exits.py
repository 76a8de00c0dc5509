"""The exit-status contract of every `stele` command (docs/cli.md), in one place.

0  success; a verification or audit PASSED
1  FAILED: a verification or audit failed, or the ledger refused the command (a rule)
2  INDETERMINATE: a verification could not conclude (e.g. no pinned key, no trust root)
3  usage or input error: bad arguments or files, an unknown id, bad configuration, an
   unreachable database
70 internal error (EX_SOFTWARE): a bug; the message says where to look

This module imports nothing of the ledger, so `stele verify` (the proof kernel alone) shares it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import NoReturn

import click

from verifiers.errors import CodedError
from verifiers.report import Verdict

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INDETERMINATE = 2
EXIT_INPUT = 3
EXIT_INTERNAL = 70

_VERDICT = {Verdict.PASSED: EXIT_OK, Verdict.FAILED: EXIT_FAILED,
            Verdict.INDETERMINATE: EXIT_INDETERMINATE}
# Coded errors that mean "what you gave is wrong", not "the ledger refused".
_INPUT_CODES = frozenset({"invalid_input", "malformed", "bad_config", "development_trust",
                          "out_of_range", "no_checkpoint", "too_large"})


def exit_for(verdict: Verdict) -> int:
    return _VERDICT[verdict]


def exit_of(error: CodedError) -> int:
    if error.code in _INPUT_CODES or error.code.endswith("not_found"):
        return EXIT_INPUT
    return EXIT_FAILED


def fail(message: str, status: int) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(status)


def run(command: click.Command, args: list[str] | None, prog_name: str,
        handlers: Callable[[Exception], int | None] | None = None) -> None:
    """Run `command` under the contract: one line on stderr for every error, never a
    traceback (unless STELE_DEBUG=1), and the exit status above. `handlers` maps the errors
    of the caller's own layers to a status (or None: not mine)."""
    try:
        command.main(args=args, prog_name=prog_name, standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        fail("aborted", EXIT_FAILED)
    except click.ClickException as exc:  # usage errors, unreadable files
        exc.show()
        sys.exit(EXIT_INPUT)
    except CodedError as exc:
        fail(exc.diagnostics(), exit_of(exc))  # code: message (evidence)
    except OSError as exc:
        fail(f"io: {exc}", EXIT_INPUT)
    except Exception as exc:
        status = handlers(exc) if handlers is not None else None
        if status is not None:
            sys.exit(status)
        if os.environ.get("STELE_DEBUG"):
            raise
        fail(f"internal: {type(exc).__name__}: {exc} (set STELE_DEBUG=1 for the traceback)",
             EXIT_INTERNAL)

