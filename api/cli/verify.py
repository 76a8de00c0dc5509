"""`stele verify`: check an evidence bundle offline (docs/evidence-bundle.md).

It uses `verifiers/` only: no database, no network, no ledger code (this module imports none,
so the command starts without them; tests/cli checks it). Trust comes from `--trust` and
`--log-key` alone: the anchors and the log key a bundle names are shown, never trusted, so
without `--log-key` nothing is PASSED. Exit status (api/cli/exits.py): 0 PASSED, 1 FAILED,
2 INDETERMINATE, 3 a bad option or an unreadable bundle, 70 an internal error.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Any

import click

from api.cli.exits import exit_for
from verifiers.errors import VerificationError
from verifiers.report import Report, Verdict


@click.command()
@click.argument("bundle", type=click.File("rb"))
@click.option("--document", type=click.File("rb"), default=None,
              help="The document, to check its digest and re-validate its signatures.")
@click.option("--trust", "trust_file", type=click.File("rb"), default=None,
              help="PEM file of the roots you trust, for signatures and TSAs alike.")
@click.option("--log-key", default=None,
              help="The log's published verifier key (`stele log key`), pinned. Without it "
                   "nothing is PASSED: a bundle's own key proves nothing.")
@click.option("--crl", "crls", type=click.File("rb"), multiple=True,
              help="Extra revocation data (DER CRL), e.g. published after signing (repeat).")
@click.option("--ocsp", "ocsps", type=click.File("rb"), multiple=True,
              help="Extra OCSP response (DER) (repeat).")
@click.option("--at", "at_text", default=None,
              help="Verify as of this time (ISO 8601 with zone; default now).")
@click.option("--witness-policy", "policy_file", type=click.File("rb"), default=None,
              help="The log's witness policy (C2SP tlog-policy), pinned: the bundle's "
                   "witnessed checkpoint must carry its quorum of cosignatures. Its log line "
                   "pins the log key when --log-key is not given.")
@click.option("--source-log-key", "source_log_keys", multiple=True,
              help="The published key of a log a received record came from (another "
                   "archive's node), pinned: the sender's history the bundle carries is "
                   "verified against it (repeat for several).")
@click.option("--json", "as_json", is_flag=True, help="The full report as JSON.")
def verify(bundle: Any, document: Any, trust_file: Any, log_key: str | None,
           crls: tuple[Any, ...], ocsps: tuple[Any, ...], at_text: str | None,
           policy_file: Any, source_log_keys: tuple[str, ...], as_json: bool) -> None:
    """Verify an evidence BUNDLE offline. Exit 0 PASSED, 1 FAILED, 2 INDETERMINATE,
    3 bad input."""
    from verifiers.bundle import read_bundle, verify_bundle

    at = _time(at_text) if at_text else datetime.now(UTC)
    roots = _roots(trust_file.read()) if trust_file is not None else []
    if log_key is not None:
        log_key = _key(log_key)
    policy = _policy(policy_file.read()) if policy_file is not None else None
    sources = {k.split("+", 1)[0]: k for k in (_key(k) for k in source_log_keys)}
    try:
        files = read_bundle(bundle.read())
    except VerificationError as exc:
        raise click.ClickException(f"{exc.code}: {exc.message}") from None
    report = verify_bundle(files, trust_roots=roots, at=at,
                           document=document.read() if document is not None else None,
                           log_key=log_key, crls=[f.read() for f in crls],
                           ocsps=[f.read() for f in ocsps], witness_policy=policy,
                           source_keys=sources)
    if as_json:
        click.echo(json.dumps(report.as_json(), ensure_ascii=False, sort_keys=True))
    else:
        _print(report)
    sys.exit(exit_for(report.bottom_line))


def _time(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter("an ISO 8601 time, e.g. 2056-01-01T00:00:00Z",
                                 param_hint="--at") from None
    if value.utcoffset() is None:
        raise click.BadParameter("give a time zone (e.g. Z)", param_hint="--at")
    return value


def _key(text: str) -> str:
    """The pinned key as given (surrounding white space aside), if it is a verifier key."""
    from verifiers.note import parse_verifier_key

    key = text.strip()
    try:
        parse_verifier_key(key)
    except VerificationError as exc:
        raise click.BadParameter(f"not a log verifier key ({exc.message}); give the line "
                                 "`stele log key` prints", param_hint="--log-key") from None
    return key


def _policy(data: bytes) -> Any:
    from verifiers.policy import parse_policy

    try:
        return parse_policy(data)
    except VerificationError as exc:
        raise click.BadParameter(exc.diagnostics(), param_hint="--witness-policy") from None


def _roots(pem: bytes) -> list[bytes]:
    from asn1crypto import pem as asn1_pem

    if not asn1_pem.detect(pem):
        raise click.BadParameter("not a PEM file", param_hint="--trust")
    found = [der for kind, _, der in asn1_pem.unarmor(pem, multiple=True)
             if kind == "CERTIFICATE"]
    if not found:
        raise click.BadParameter("no certificate in it", param_hint="--trust")
    return found


def _print(report: Report) -> None:
    for check in report.checks:
        click.echo(check.line())
    s = report.summary
    click.echo("")
    click.echo(f"record {s.get('record')} ({s.get('kind')}), verified as of {s.get('at')}")
    poe = s.get("proof_of_existence") or {}
    for event in s.get("events", []):
        when = poe.get(str(event["version"]))
        click.echo(f"  v{event['version']} {event['type']} at {event['at']}; proven to exist "
                   f"by {when or '(no proof of existence)'}")
    for check in report.checks:
        if check.name.startswith("signature[") and "signer" in check.evidence:
            e = check.evidence
            click.echo(f"  {check.name}: {check.verdict.value} ({e.get('subindication') or 'OK'})"
                       f"; signed by {e.get('signer')}; best signature time "
                       f"{e.get('best_signature_time')}")
    witnessed = s.get("witnessed")
    if witnessed:
        cosigners = witnessed.get("cosigners")
        said = (", ".join(f"{name} at {when}" for name, when in sorted(cosigners.items()))
                if cosigners else "cosignatures not checked (no --witness-policy)")
        click.echo(f"  witnessed checkpoint of size {witnessed['size']}: {said}")
    for anchor in s.get("anchors_in_bundle", []):
        trusted = "trusted by you" if anchor.get("trusted_here") else "NOT in your --trust"
        click.echo(f"  anchor named by the ledger: {anchor.get('pki')} {anchor.get('subject')} "
                   f"[{anchor.get('fingerprint')}] ({trusted})")
    failing = next((c for c in report.checks if c.verdict is report.bottom_line
                    and c.verdict is not Verdict.PASSED), None)
    reason = f" ({failing.name}: {failing.code})" if failing is not None else ""
    click.echo(f"{report.bottom_line.value}{reason}")
