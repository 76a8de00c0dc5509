"""`stele bench`: measured workloads (docs/performance.md)."""

from __future__ import annotations

import click

from api.cli.common import StoreOptions, emit, store_options


@click.command()
@click.option("--events", default=100_000, show_default=True, type=click.IntRange(1000))
@click.option("--batch", default=500, show_default=True, type=click.IntRange(1, 10_000),
              help="Records per save in the batched workload.")
@click.option("--quick", is_flag=True, help="One round instead of three (a smoke run).")
@click.option("--proof-leaves", default=0, type=click.IntRange(0), show_default=True,
              help="Also time proofs on a synthetic tree of this many leaves (e.g. 1000000).")
@click.option("--http", "http_seconds", default=0.0, type=click.FloatRange(0),
              help="Instead: run the HTTP workloads against `stele serve` for this many "
                   "seconds each.")
@click.option("--driver", type=click.Choice(["wrk", "python"]), default="wrk",
              show_default=True,
              help="--http load: wrk (outside the interpreter; latency percentiles, an audit "
                   "after) or 8 Python clients (also acknowledgement to checkpoint).")
@click.option("--connections", default="8", show_default=True,
              help="--http with wrk: comma-separated connection counts, e.g. 1,2,4,8,16,32.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="--http: server processes (more than one needs PostgreSQL).")
@click.option("--signatures", default=0, type=click.IntRange(0), show_default=True,
              help="Instead: time N sign events per format against pyHanko alone, signing "
                   "throughput with 1 and 2 workers, and `stele verify` of a typical bundle.")
@click.option("--witnessing", "witness_seconds", default=0.0, type=click.FloatRange(0),
              help="Instead: three witnessing nodes and a baseline on loopback, writing for "
                   "this many seconds each: write-rate cost, ack to cosigned checkpoint, "
                   "cosigning latency, witness throughput.")
@click.option("--transfer", "transfer_records", default=0, type=click.IntRange(0),
              help="Instead: a transfer of this many records between two nodes: initiate, "
                   "export, receive with full re-proof, conclude (records/s, peak memory).")
@store_options
def bench(store: StoreOptions, events: int, batch: int, quick: bool, proof_leaves: int,
          http_seconds: float, driver: str, connections: str, workers: int, signatures: int,
          witness_seconds: float, transfer_records: int) -> None:
    """Throughput against bare eventsourcing in the same run, proof time, audit rate (JSON)."""
    if transfer_records:
        from ledger.bench.transfer import run_transfer_bench

        emit(run_transfer_bench(store.settings(), records=transfer_records))
        return
    if witness_seconds:
        from ledger.bench.witnessing import run_witnessing_bench

        emit(run_witnessing_bench(store.settings(), seconds=witness_seconds))
        return
    if signatures:
        from ledger.bench.signatures import run_signature_bench

        emit(run_signature_bench(store.settings(), signatures=signatures))
        return
    if http_seconds:
        from ledger.bench.http import run_http_bench, run_wrk_bench

        if driver == "python":
            emit(run_http_bench(store.settings(), seconds=http_seconds))
            return
        try:
            counts = [int(c) for c in connections.split(",")]
        except ValueError:
            raise click.BadParameter("comma-separated numbers, e.g. 1,2,4,8",
                                     param_hint="--connections") from None
        if not counts or min(counts) < 1:
            raise click.BadParameter("at least one connection", param_hint="--connections")
        emit(run_wrk_bench(store.settings(), seconds=http_seconds, connections=counts,
                           workers=workers))
        return
    from ledger.bench.log import run_bench

    emit(run_bench(store.settings(), events=events, batch=batch, quick=quick,
                   proof_leaves=proof_leaves))
