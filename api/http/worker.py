"""The log worker: integrates new events and cuts checkpoints; the one holding the anchoring
lease also anchors them and renews evidence records; a process of its own publishes them as
tiles; on a catalog centre it re-signs the shared catalogs' index when due, on a consumer the
one holding the sync lease syncs them from the centre; hourly, it purges expired idempotency
answers. In a process of its own beside each server process (`WorkerProcess`, so that hashing,
signing and anchoring never take the interpreter from requests), or alone (`stele worker`).

It has its own Ledger (its own connections), so request handlers never wait on it. Several
processes may each run one: the integrator's exclusive transaction serialises integration, and
the lease makes one of them at a time call the TSAs (another takes over when it dies).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from datetime import timedelta
from typing import Any

import structlog

from ledger.config import Settings
from ledger.log.tiles import follow
from ledger.log.witnessing import WITNESSING
from ledger.service import Ledger
from ledger.store.lease import Lease
from verifiers.errors import VerificationError

log = structlog.get_logger("stele.log")
PURGE_EVERY = 3600.0  # seconds between purges of expired idempotency answers
CATALOG_INDEX_EVERY = 2.0  # seconds between checks that the centre's catalog index is due
CATALOG_SYNC = "catalog-sync"  # the lease of the one process that syncs a consumer's catalogs


class LogWorker:
    def __init__(self, settings: Settings, period: float = 0.1) -> None:
        self.settings = settings
        self.period = period
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stele-log", daemon=True)
        self.ledger = Ledger(settings)
        self._next_purge = 0.0  # of expired idempotency answers, hourly
        self._next_catalogs = 0.0  # when a centre next checks its catalog index
        self._syncing = (threading.Thread(target=self._sync_catalogs, name="stele-catalogs",
                                          daemon=True)
                         if settings.catalog_from is not None else None)
        self._catalog_lease = Lease(self.ledger.store, CATALOG_SYNC,
                                    ttl=timedelta(seconds=settings.lease_seconds))
        # Tiles are published by a process of its own (ledger.log.tiles.follow), so writing
        # them takes no time from integration (a thread would: they share one interpreter).
        ctx = multiprocessing.get_context("spawn")
        self._publishing = ctx.Event()
        self._publisher = ctx.Process(
            target=follow, name="stele-tiles", daemon=True,
            args=(settings.database, settings.tiles_dir, period, self._publishing,
                  os.getpid(), None, settings.witness_policy is not None))
        # Witnesses are asked for cosignatures from a thread of their own: a slow or absent
        # witness never holds up integration, and writes never wait for any of it.
        self._witnessing = (threading.Thread(target=self._witness, name="stele-witnessing",
                                             daemon=True)
                            if self.ledger.witnessing is not None else None)

    def start(self) -> None:
        self._thread.start()
        self._publisher.start()
        if self._witnessing is not None:
            self._witnessing.start()
        if self._syncing is not None:
            self._syncing.start()

    def _witness(self) -> None:
        witnessing = self.ledger.witnessing
        assert witnessing is not None
        lease = Lease(self.ledger.store, WITNESSING,
                      ttl=timedelta(seconds=self.settings.lease_seconds))
        while not self._stop.wait(self.period):
            try:
                if lease.hold():
                    for o in witnessing.round():
                        if o.line is not None:
                            log.info("log.cosigned", witness=o.witness, size=o.size,
                                     seconds=round(o.seconds, 3))
            except Exception as exc:  # keep going; the next round retries
                log.error("log.witnessing_error", error=f"{type(exc).__name__}: {exc}")
        lease.release()

    def _step(self) -> None:
        done = self.ledger.log.integrate()
        if done.count:
            log.info("log.integrated", first_leaf=done.first, count=done.count)
        cp = self.ledger.log.checkpoint(publish=False)
        if cp is not None:
            log.info("log.checkpoint", size=cp.size)
        # A TSA that is down only leaves a backlog; without the lease, nothing to do here.
        for anchored in self.ledger.longterm.anchor(leased=True):
            log.info("log.anchored", size=anchored.size, tsa=anchored.tsa)
        renewed = self.ledger.longterm.renew_if_due()
        if renewed is not None:
            log.info("log.renewed", kind=renewed.kind, records=renewed.records, tsa=renewed.tsa)
        if time.monotonic() >= self._next_catalogs and self.settings.catalog_from is None:
            self._next_catalogs = time.monotonic() + CATALOG_INDEX_EVERY
            self.ledger.catalogs.publish_index()  # a centre's, when due; nothing elsewhere
        if time.monotonic() >= self._next_purge:
            self._next_purge = time.monotonic() + PURGE_EVERY
            purged = self.ledger.idempotency.purge()
            if purged:
                log.info("idempotency.purged", answers=purged)

    def _sync_catalogs(self) -> None:
        """A consumer syncs its catalogs from the centre (one process at a time, under a
        lease), every catalog_sync_seconds, from a thread of its own: a slow or absent centre
        never holds up integration."""
        seconds = self.settings.catalog_sync_seconds
        wait = 0.0
        while not self._stop.wait(wait):
            wait = seconds
            try:
                if self._catalog_lease.hold():
                    self.ledger.catalogs.sync()
            except VerificationError:
                pass  # kept for `status` and logged; the next round tries again
            except Exception as exc:  # keep going; the next round retries
                log.error("catalog.sync_error", error=f"{type(exc).__name__}: {exc}")
        self._catalog_lease.release()

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self._step()
            except Exception as exc:  # keep serving; the next step retries
                log.error("log.worker_error", error=f"{type(exc).__name__}: {exc}")
            self._stop.wait(max(0.0, self.period - (time.monotonic() - started)))

    def stop(self) -> None:
        """Finish the step under way, then integrate and checkpoint what is left."""
        self._stop.set()
        self._publishing.set()
        self._thread.join(timeout=30)
        if self._syncing is not None:
            self._syncing.join(timeout=60)
        if self._witnessing is not None:
            self._witnessing.join(timeout=30)
        if self._publisher.pid is not None:
            self._publisher.join(timeout=30)
        try:
            self.ledger.log.sync(anchor=False)  # and publishes the last checkpoint
            # the holder anchors what is left, then hands over
            if self.ledger.longterm.lease.hold():
                self.ledger.longterm.anchor(leased=True)
                self.ledger.log.sync(anchor=False)
                self.ledger.longterm.lease.release()
        finally:
            self.ledger.close()


class WorkerProcess:
    """The log worker in a child process of the server: started with it, stopped with it (it
    integrates, checkpoints and anchors what is left first), and gone if the server dies."""

    def __init__(self, settings: Settings, period: float = 0.1) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._stop = ctx.Event()
        # Not daemonic: it has a child of its own (the tiles publisher).
        self._process = ctx.Process(target=_work, name="stele-log-worker",
                                    args=(settings, period, self._stop, os.getpid()))

    def start(self) -> None:
        # Started with SIGTERM and SIGINT blocked (the mask is inherited): a stop signal to
        # the whole group while the child is still starting waits until it can stop cleanly.
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
        try:
            self._process.start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)

    def stop(self) -> None:
        self._stop.set()
        self._process.join(timeout=120)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(timeout=30)


def _work(settings: Settings, period: float, stop: Any, parent: int) -> None:
    """A WorkerProcess's body: the worker, until the server says stop or is gone."""
    from api.http.app import configure_logging  # the server's JSON log lines, here too

    configure_logging()
    # The server says when to stop (after its requests drained); a SIGTERM to the whole group
    # (a service manager's) stops this one cleanly too, and Ctrl-C is the server's to handle.
    terminated = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: terminated.set())
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    worker = LogWorker(settings, period)
    worker.start()
    try:
        while not stop.wait(0.5) and not terminated.is_set():
            if os.getppid() != parent:  # the server died (kill -9): stop as well
                break
    finally:
        worker.stop()
