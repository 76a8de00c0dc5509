"""`stele witness ...` (the node's witness), `stele monitor` and `stele federation demo`."""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import click

from api.cli.common import StoreOptions, emit, open_ledger, store_options
from api.cli.exits import EXIT_FAILED, EXIT_INPUT, EXIT_OK
from api.cli.serve import serve
from verifiers.errors import VerificationError


@click.group()
def witness() -> None:
    """The witness: cosign other logs' checkpoints (C2SP tlog-witness)."""


@witness.command("key")
@store_options
def witness_key(store: StoreOptions) -> None:
    """The witness's cosigner key (vkey, type 0x04), made on first use: for the logs' policies.
    Named by STELE_WITNESS_NAME (default <origin>/witness)."""
    from ledger.log.keys import WITNESS_KEY_FILE, LogKey

    settings = store.settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    click.echo(LogKey.load_or_create(settings.data_dir, settings.witness_name,
                                     WITNESS_KEY_FILE).cosigner)


@witness.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64))
@click.pass_context
def witness_serve(ctx: click.Context, /, **options: Any) -> None:
    """`stele serve` with the witness on (STELE_WITNESS=on): POST /add-checkpoint."""
    os.environ["STELE_WITNESS"] = "on"
    ctx.invoke(serve, **options)


witness_serve.params.extend(p for p in serve.params if p.name in ("db", "data_dir", "dev"))


@witness.command("heads")
@store_options
def witness_heads(store: StoreOptions) -> None:
    """The latest checkpoint size this witness cosigned for each log (JSON)."""
    with open_ledger(store) as ledger, ledger.store.transaction() as tx:
        emit([{"origin": o, "size": s, "updated_at": u} for o, s, u in tx.witness_heads()])


@witness.command("cosigned")
@click.argument("origin")
@store_options
def witness_cosigned(store: StoreOptions, origin: str) -> None:
    """Every checkpoint of ORIGIN this witness cosigned, one JSON object per line."""
    with open_ledger(store) as ledger, ledger.store.transaction() as tx:
        rows = tx.witness_cosigned(origin)
    for _, size, _, timestamp, note, line in rows:
        emit({"size": size, "timestamp": timestamp, "note": note + line})


@witness.command("evidence")
@click.argument("origin")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Write the evidence here (default: stdout).")
@store_options
def witness_evidence(store: StoreOptions, origin: str, output: str | None) -> None:
    """Export the equivocation evidence the witness kept for ORIGIN: one JSON document per
    line (verifiable offline with `stele witness verify-evidence`). Exit 0 with none, 1 when
    there is some (a log showed this witness two histories)."""
    with open_ledger(store) as ledger, ledger.store.transaction() as tx:
        found = tx.witness_evidence(origin)
    text = "".join(evidence + "\n" for _, _, evidence in found)
    if output is None:
        click.echo(text, nl=False)
    else:
        Path(output).write_text(text, "utf-8")
    click.echo(f"{len(found)} piece(s) of evidence for {origin}, "
               f"{sum(p for _, p, _ in found)} proven", err=True)
    sys.exit(EXIT_FAILED if found else EXIT_OK)


@witness.command("verify-evidence")
@click.argument("evidence", type=click.File("rb"))
@click.option("--log-key", required=True, help="The log's verifier key, pinned.")
def witness_verify_evidence(evidence: Any, log_key: str) -> None:
    """Prove the split view in EVIDENCE (one JSON document per line) offline, with
    `verifiers/` alone, against the pinned --log-key. Exit 0 when every document proves it,
    1 when one does not, 3 for what is not evidence."""
    from verifiers.witness import EquivocationUnprovenError, verify_equivocation

    lines = [line for line in evidence.read().splitlines() if line.strip()]
    if not lines:
        raise click.ClickException("no evidence in the file")
    status = EXIT_OK
    for line in lines:
        try:
            proven = verify_equivocation(line, log_key.strip())
        except EquivocationUnprovenError as exc:
            emit({"proven": False, "code": exc.code, "reason": exc.message, **exc.evidence})
            status = EXIT_FAILED
            continue
        except VerificationError as exc:
            emit({"proven": False, "code": exc.code, "reason": exc.message, **exc.evidence})
            sys.exit(EXIT_INPUT if exc.code == "malformed" else EXIT_FAILED)
        emit({"proven": True, "origin": proven.origin, "how": proven.how,
              "checkpoints": [{"size": c.size, "root": c.root.hex()}
                              for c in (proven.first, proven.second)]})
    sys.exit(status)


@click.command()
@click.option("--policy", "policies", type=click.Path(exists=True, dir_okay=False),
              multiple=True, required=True,
              help="A C2SP tlog-policy file: its logs (with their URLs) are followed and its "
                   "quorum required (repeat for logs with policies of their own).")
@click.option("--interval", default=5.0, show_default=True, type=click.FloatRange(0.05),
              help="Seconds between polls.")
@click.option("--stale", "stale_after", default=300.0, show_default=True,
              type=click.FloatRange(1), help="Alarm when the newest cosignature is older.")
@click.option("--state", type=click.Path(dir_okay=False), default=None,
              help="Where to keep the last checkpoint seen of each log (JSON).")
@click.option("--once", is_flag=True, help="Poll once, then exit.")
@click.option("--keep-going", is_flag=True, help="Report alarms and go on polling.")
def monitor(policies: tuple[str, ...], interval: float, stale_after: float,
            state: str | None, once: bool, keep_going: bool) -> None:
    """Follow logs from their published tiles and raise on a split view, a rollback, a
    stale or unwitnessed checkpoint, or an unreachable log. Each finding is a JSON line on
    stdout (and a log line on stderr); exit 1 at the first alarm (unless --keep-going),
    0 when --once finds none."""
    import structlog

    from ledger.federation.monitor import Monitor
    from verifiers.policy import parse_policy

    log = structlog.get_logger("stele.monitor")
    try:
        parsed = [parse_policy(Path(p).read_bytes()) for p in policies]
    except VerificationError as exc:
        raise click.BadParameter(exc.diagnostics(), param_hint="--policy") from None
    watcher = Monitor(parsed, stale_after=stale_after,
                      state=Path(state) if state else None)
    if not watcher.followed:
        raise click.BadParameter("no log line with a URL in the policies", param_hint="--policy")
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    alarmed = False
    while True:
        for finding in watcher.poll():
            emit(finding.as_json())
            sys.stdout.flush()
            if finding.alarm:
                alarmed = True
                log.error("monitor.alarm", kind=finding.kind, origin=finding.origin)
        if (alarmed and not keep_going) or once or stopping.wait(interval):
            break
    sys.exit(EXIT_FAILED if alarmed else EXIT_OK)


@click.group()
def federation() -> None:
    """The national federation: regional nodes that witness each other."""


@federation.command("init")
@click.option("--dir", "directory", type=click.Path(file_okay=False), required=True,
              help="Where each region's data directory and the policies are made.")
@click.option("--db", "database", default=None, metavar="URL",
              help="PostgreSQL (a schema per region, <schema>_<region>); default SQLite.")
@click.option("--url", "urls", multiple=True, required=True, metavar="REGION=URL",
              help="How the other nodes reach each region (repeat for north, central, south).")
def federation_init(directory: str, database: str | None, urls: tuple[str, ...]) -> None:
    """Make the three regions' keys, policies, witness log lists and agency principals, for
    nodes started elsewhere (docker-compose.federation.yml). Prints each region's agency
    token once (JSON)."""
    from ledger.federation.nodes import REGIONS, Federation

    given = dict(u.split("=", 1) for u in urls if "=" in u)
    if set(given) != set(REGIONS):
        raise click.BadParameter(f"give --url REGION=URL for each of {', '.join(REGIONS)}",
                                 param_hint="--url")
    fed = Federation(Path(directory), ports=dict.fromkeys(REGIONS, 8000), database=database,
                     urls=given)
    fed.prepare()
    emit({r: {"url": n.url, "log": n.log_vkey, "witness": n.witness_vkey, "token": n.token,
              "policy": str(fed.policy(r))} for r, n in fed.nodes.items()})


@federation.command("demo")
@click.option("--dir", "directory", type=click.Path(file_okay=False), default="stele-federation",
              show_default=True, help="Where the three nodes keep their data.")
@click.option("--db", "database", default=None, metavar="URL",
              help="PostgreSQL for the three nodes (a schema each); default SQLite files.")
@click.option("--seconds", default=10.0, show_default=True, type=click.FloatRange(1),
              help="How long the agencies write.")
@click.option("--keep", is_flag=True, help="Keep the nodes running until Ctrl-C.")
def federation_demo(directory: str, database: str | None, seconds: float, keep: bool) -> None:
    """Start north, central and south on loopback, each witnessing the other two (quorum:
    both others), have an agency write to each for --seconds, wait until every log's last
    checkpoint is cosigned, run the monitor once, and print what each node shows."""
    from ledger.bench.http import free_port
    from ledger.federation.monitor import Monitor
    from ledger.federation.nodes import REGIONS, Federation
    from verifiers.policy import parse_policy

    root = Path(directory)
    fed = Federation(root, ports={r: free_port() for r in REGIONS}, database=database)
    fed.prepare()
    click.echo(f"starting {', '.join(REGIONS)} in {root} ...", err=True)
    fed.start()
    try:
        for node in fed.nodes.values():
            click.echo(f"  {node.region}: {node.url} (log {node.origin}, witness "
                       f"{node.witness_name})", err=True)
        written = fed.write_for(seconds)
        covered = fed.wait_witnessed(timeout=60)
        watcher = Monitor([parse_policy(fed.policy(r).read_bytes()) for r in REGIONS],
                          stale_after=300)
        findings = [f.as_json() for f in watcher.poll()]
        emit({"written": written, "witnessed": covered,
              "policies": {r: str(fed.policy(r)) for r in REGIONS},
              "monitor": findings})
        if keep:
            click.echo("running; Ctrl-C to stop", err=True)
            signal.sigwait({signal.SIGINT, signal.SIGTERM})
        if any(f["alarm"] for f in findings) or set(covered) != set(REGIONS):
            sys.exit(EXIT_FAILED)
    finally:
        fed.stop()
