"""`stele dev-pki`: make a throwaway development PKI and sign PDFs and data with it.

For demos and tests only (docs/dev-pki.md): the private keys are written unencrypted, and the
roots must never be trusted outside a demo. Errors are click errors (one line, no traceback).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from ledger.dev.pki import LEVELS, DevPki, DevPkiError, Party, blank_pdf, sign_cms, sign_pdf

T = TypeVar("T")

_PKI_DIR = click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
_SIGNER = click.option("--signer", required=True, metavar="NAME",
                       help="A party of the PKI, e.g. individual or agency.")
_OUTPUT = click.option("-o", "--output", required=True, metavar="FILE",
                       type=click.Path(dir_okay=False, writable=True, path_type=Path))


def _attempt(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a dev-PKI operation; its refusals become click errors."""
    try:
        return fn(*args, **kwargs)
    except DevPkiError as exc:
        raise click.ClickException(exc.diagnostics()) from None


def _parse_time(text: str, option: str) -> datetime:
    """ISO 8601; UTC when no offset is given."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter("use ISO 8601, e.g. 2026-01-31T09:00:00+07:00",
                                 param_hint=option) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


_AT = click.option("--at", "at_text", metavar="ISO-TIME", default=None,
                   help="Sign as of this time: it dates the signing, the timestamps and the "
                        "revocation information (default: now; UTC when no offset is given).")


def _describe(cert: x509.Certificate) -> str:
    return (f"{cert.subject.rfc4514_string()}  "
            f"{cert.not_valid_before_utc:%Y-%m-%dT%H:%MZ}..{cert.not_valid_after_utc:%Y-%m-%dT%H:%MZ}"
            f"  sha256={cert.fingerprint(hashes.SHA256()).hex()}")


def _signer(pki: DevPki, name: str) -> Party:
    return _attempt(pki.party, name)


@click.group("dev-pki")
def dev_pki() -> None:
    """A throwaway development PKI (NEAC and BCY imitations) for demos and tests only."""


@dev_pki.command("init")
@_PKI_DIR
@click.option("--now", "now_text", metavar="ISO-TIME", default=None,
              help="The PKI's creation time, which every validity period is relative to "
                   "(default: now; UTC when no offset is given).")
def init(directory: Path, now_text: str | None) -> None:
    """Create a development PKI in DIRECTORY (new or empty)."""
    now = (datetime.now(UTC).replace(microsecond=0) if now_text is None
           else _parse_time(now_text, "--now"))
    pki = _attempt(DevPki.create, directory, now)
    click.echo(f"created development PKI in {directory} at {pki.now.isoformat()} "
               "(demos and tests only: keys are unencrypted)")
    for name, root in pki.roots.items():
        click.echo(f"root {name}: {_describe(root)}")
    for name, party in pki.parties.items():
        click.echo(f"party {name} (issuer {pki.issuer_of(name)}): {_describe(party.cert)}")


@dev_pki.command("sign-pdf")
@_PKI_DIR
@_SIGNER
@click.option("--level", type=click.Choice(LEVELS), default="B-B", show_default=True,
              help="PAdES baseline level.")
@click.option("--field", default="Signature1", show_default=True,
              help="Name of the new signature field (a second signature needs another name).")
@click.option("-i", "--input", "input_path", metavar="IN.pdf", default=None,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The PDF to sign (signed already or not).")
@click.option("--blank", metavar="TEXT", default=None,
              help="Sign a new one-page PDF showing TEXT instead of -i.")
@_AT
@_OUTPUT
def sign_pdf_command(directory: Path, signer: str, level: str, field: str,
                     input_path: Path | None, blank: str | None, at_text: str | None,
                     output: Path) -> None:
    """Sign a PDF (PAdES) with a party of the PKI in DIRECTORY."""
    if (input_path is None) == (blank is None):
        raise click.UsageError("give exactly one of -i/--input and --blank")
    pki = _attempt(DevPki.load, directory)
    party = _signer(pki, signer)
    pdf = blank_pdf(blank) if blank is not None else Path(str(input_path)).read_bytes()
    at = None if at_text is None else _parse_time(at_text, "--at")
    output.write_bytes(_attempt(sign_pdf, pdf, party, level=level, pki=pki, field=field,
                                at=at))
    click.echo(f"signed {output}: {level} by {signer} in field {field}")


@dev_pki.command("sign-cms")
@_PKI_DIR
@_SIGNER
@click.option("--timestamp", is_flag=True, help="Add a signature timestamp from the dev TSA.")
@click.option("-i", "--input", "input_path", metavar="DATA", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The data to sign.")
@_AT
@_OUTPUT
def sign_cms_command(directory: Path, signer: str, timestamp: bool, input_path: Path,
                     at_text: str | None, output: Path) -> None:
    """Make a detached CMS signature (DER, .p7s) over DATA with a party of the PKI."""
    pki = _attempt(DevPki.load, directory)
    party = _signer(pki, signer)
    at = None if at_text is None else _parse_time(at_text, "--at")
    output.write_bytes(_attempt(sign_cms, input_path.read_bytes(), party, pki=pki,
                                timestamp=timestamp, at=at))
    click.echo(f"signed {output}: detached CMS over {input_path} by {signer}"
               + (" with a signature timestamp" if timestamp else ""))
