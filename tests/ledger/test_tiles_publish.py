"""The log published as C2SP tlog-tiles: exactly the files each checkpoint implies, full tiles
never rewritten, a rebuild that finds tampering, nothing lost to kill -9, and readers that need
no database (the proof kernel's audit, proofs equal to the store's, the CLI, the API)."""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.http.app import create_app
from domain.envelope import Actor
from ledger.config import Settings
from ledger.errors import EventTooLargeError
from ledger.log.tiles import published_size
from ledger.records import Command
from ledger.service import Ledger
from tests.conftest import Clock, database_url
from tests.ledger.builders import AGENCY, metadata
from verifiers.canonical import b64
from verifiers.report import Verdict
from verifiers.tiles import (
    CHECKPOINT,
    TileReader,
    audit_tiles,
    directory_fetch,
    entry_bundles_for,
    tiles_for,
)

ROOT = Path(__file__).parents[2]


@pytest.fixture
def ledger(settings: Settings, clock: Clock) -> Iterator[Ledger]:
    with Ledger(settings, clock=clock) as ledger:
        yield ledger


def grow(ledger: Ledger, count: int, *, start: int = 0) -> None:
    """`count` more records (one event each), in batches, integrated."""
    body = b"tiled document"
    digest = ledger.records.put_content(body, agency=AGENCY.agency)
    content = {"digest": digest, "size": len(body), "media_type": "text/plain"}
    for first in range(start, start + count, 500):
        ledger.records.execute(AGENCY, [
            Command("record.create", {"metadata": metadata(n), "retention": 10,
                                      "schedule": "S-1", "content": content})
            for n in range(first, min(first + 500, start + count))])
    ledger.log.integrate()


def published(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")
            if p.is_file() and not p.name.startswith(".")}


def implied(size: int) -> set[str]:
    return {t.path for t in [*tiles_for(size), *entry_bundles_for(size)]} | {CHECKPOINT}


def assert_published(root: Path, size: int) -> None:
    """Every file `size` implies; besides, only narrower partials of a tile still partial
    (for readers of older checkpoints): once a tile is full, its partials are gone."""
    files, wanted = published(root), implied(size)
    assert wanted <= files
    partial_dirs = {p.rsplit("/", 1)[0] for p in wanted if ".p/" in p}
    assert {p.rsplit("/", 1)[0] for p in files - wanted} <= partial_dirs, files - wanted


def full_tiles(root: Path) -> dict[str, bytes]:
    return {path: hashlib.sha256((root / path).read_bytes()).digest()
            for path in published(root) if path != CHECKPOINT and ".p/" not in path}


def test_each_checkpoint_publishes_exactly_the_files_it_implies(ledger: Ledger) -> None:
    root = ledger.settings.tiles_dir
    before: dict[str, bytes] = {}
    for count in (1, 254, 1, 1, 300):  # 1, 255, 256, 257, 557: partial, full, partial again
        grow(ledger, count, start=ledger.log.size())
        cp = ledger.log.checkpoint(force=True)
        assert cp is not None
        assert_published(root, cp.size)
        assert (root / CHECKPOINT).read_text() == cp.note
        now = full_tiles(root)
        assert {p: h for p, h in now.items() if p in before} == before  # never rewritten
        before = now
        report = audit_tiles(directory_fetch(root), ledger.key.verifier)
        assert report.bottom_line is Verdict.PASSED, report.as_json()


def test_proofs_from_tiles_equal_the_stores(ledger: Ledger) -> None:
    grow(ledger, 600)
    cp = ledger.log.checkpoint(force=True)
    assert cp is not None
    reader = TileReader(directory_fetch(ledger.settings.tiles_dir), ledger.key.verifier)
    assert (reader.size, reader.root) == (cp.size, cp.root)
    for index in (0, 255, 256, 599):
        stored = ledger.log.prove_inclusion(index, cp.size)
        assert [b64(p) for p in reader.inclusion_proof(index)] == stored["proof"]
        assert b64(reader.leaf_hash(index)) == stored["leaf_hash"]
    for first in (1, 256, 300):
        assert [b64(p) for p in reader.consistency_proof(first)] == (
            ledger.log.prove_consistency(first, cp.size)["proof"])
    assert [e for e in reader.entries(590, 600)] == [
        leaf for _, leaf in ledger.log.leaves(590, 600)]


def test_rebuild_finds_and_repairs_a_tampered_tile(ledger: Ledger) -> None:
    grow(ledger, 300)
    cp = ledger.log.checkpoint(force=True)
    assert cp is not None
    root = ledger.settings.tiles_dir
    tampered = root / "tile/0/000"
    data = bytearray(tampered.read_bytes())
    data[100] ^= 1
    tampered.write_bytes(bytes(data))
    failed = audit_tiles(directory_fetch(root), ledger.key.verifier)
    assert failed.bottom_line is Verdict.FAILED
    assert "tile/0/000" in str(failed.as_json())
    (root / "tile/entries/001.p/44").unlink()  # and one lost
    done = ledger.log.rebuild_tiles()
    assert done.mismatched == ["tile/0/000"]
    assert done.written == 2 and done.files == len(implied(cp.size)) - 1
    assert audit_tiles(directory_fetch(root), ledger.key.verifier).bottom_line is Verdict.PASSED


def test_an_event_too_large_for_an_entry_bundle_is_refused(ledger: Ledger) -> None:
    from tests.pki import self_signed_root

    committee = Actor("c", "committee", "000.00.00.B01")
    huge = self_signed_root(dns_names=3_000)  # about 80 KB of PEM
    size = ledger.log.size()
    with pytest.raises(EventTooLargeError) as refused:
        ledger.records.do(committee, "trust.register", certificate=huge, pki="TEST",
                          purposes=["signing"])
    assert refused.value.code == "event_too_large"
    assert refused.value.evidence["size"] > 65_535
    ledger.log.integrate()
    assert ledger.log.size() == size  # nothing was written


def _env(settings: Settings, **extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "STELE_ENV": "dev",
            "STELE_DATABASE_URL": database_url(settings.database),
            "STELE_DATA_DIR": str(settings.data_dir), "STELE_LOG_ORIGIN": settings.origin,
            **extra}


def _stele(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "api.cli", *args], cwd=ROOT, text=True,
                          env=_env(settings), capture_output=True, timeout=300)


@pytest.mark.slow
def test_the_cli_audits_and_proves_from_tiles_alone(ledger: Ledger, settings: Settings,
                                                    tmp_path: Path) -> None:
    grow(ledger, 300)
    cp = ledger.log.checkpoint(force=True)
    assert cp is not None
    copy = tmp_path / "published"  # a copy far from any database
    subprocess.run(["cp", "-r", str(settings.tiles_dir), str(copy)], check=True)
    key = ledger.key.verifier
    audit = _stele(settings, "audit", "--tiles", str(copy), "--key", key, "--json")
    assert audit.returncode == 0, audit.stdout + audit.stderr
    proof = _stele(settings, "log", "prove", "--tiles", str(copy), "--key", key,
                   "--index", "7")
    assert proof.returncode == 0, proof.stderr
    assert json.loads(proof.stdout) == ledger.log.prove_inclusion(7, cp.size)
    unpinned = _stele(settings, "audit", "--tiles", str(copy))
    assert unpinned.returncode == 3  # usage: no key, no audit
    bundle = copy / "tile/entries/000"
    data = bytearray(bundle.read_bytes())
    data[50] ^= 1
    bundle.write_bytes(bytes(data))
    failed = _stele(settings, "audit", "--tiles", str(copy), "--key", key, "--json")
    assert failed.returncode == 1
    assert "tile/entries/000" in failed.stdout


def test_the_api_serves_tiles_with_the_caching_the_spec_asks_for(ledger: Ledger,
                                                                 settings: Settings) -> None:
    grow(ledger, 300)
    cp = ledger.log.checkpoint(force=True)
    assert cp is not None
    with TestClient(create_app(settings, background=False)) as client:
        note = client.get("/v1/log/tiles/checkpoint")
        assert note.text == cp.note and note.headers["cache-control"] == "no-store"
        full = client.get("/v1/log/tiles/tile/0/000")
        assert full.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert full.headers["content-type"] == "application/octet-stream"
        assert full.content == (settings.tiles_dir / "tile/0/000").read_bytes()
        partial = client.get("/v1/log/tiles/tile/0/001.p/44")
        assert partial.status_code == 200 and "immutable" not in partial.headers["cache-control"]
        bundle = client.get("/v1/log/tiles/tile/entries/000",
                            headers={"Accept-Encoding": "gzip"})
        assert bundle.headers["content-encoding"] == "gzip"
        assert bundle.content == (settings.tiles_dir / "tile/entries/000").read_bytes()
        for bad in ("tile/0/0000", "tile/../../etc/passwd", "tile/0/009", "nothing"):
            missing = client.get(f"/v1/log/tiles/{bad}")
            assert missing.status_code == 404, bad
            assert missing.headers["content-type"] == "application/problem+json"

        def fetch(path: str) -> bytes:
            answer = client.get(f"/v1/log/tiles/{path}")
            if answer.status_code == 404:
                from verifiers.tiles import TileMissingError

                raise TileMissingError("no such file", path=path)
            return answer.content

        assert audit_tiles(fetch, ledger.key.verifier).bottom_line is Verdict.PASSED


@pytest.mark.slow
def test_kill_9_while_writing_tiles_loses_nothing_and_changes_no_full_tile(
        settings: Settings, clock: Clock) -> None:
    with Ledger(settings, clock=clock) as ledger:
        grow(ledger, 30_000)  # integrated, not yet checkpointed: one big publication to come
        key = ledger.key.verifier
    root = settings.tiles_dir
    env = _env(settings, STELE_CREATE_TABLES="0")
    seen: dict[str, bytes] = {}
    rng = random.Random(7)
    for attempt in range(3):  # kill -9 the worker twice while it writes tiles, then finish
        worker = subprocess.Popen([sys.executable, "-m", "api.cli", "worker"], cwd=ROOT,
                                  env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  text=True, start_new_session=True)
        last = attempt == 2
        try:
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline:
                if last and published_size(root) >= 30_000:
                    break
                if not last and len(full_tiles(root)) > len(seen):  # it is writing
                    time.sleep(rng.uniform(0.0, 0.2))
                    break
                time.sleep(0.005)
            else:
                pytest.fail("the worker did not write tiles in time")
        finally:
            if last:
                worker.send_signal(signal.SIGTERM)
            else:  # the worker and its tile publisher at once, as a machine that dies
                os.killpg(worker.pid, signal.SIGKILL)
            _, errors = worker.communicate(timeout=60)
        now = full_tiles(root)
        assert {p: h for p, h in now.items() if p in seen} == seen  # no full tile changed
        seen = now
        if not last:
            assert published_size(root) < 30_000, "killed too late to test anything"
    assert worker.returncode == 0, errors
    report = audit_tiles(directory_fetch(root), key)
    assert report.bottom_line is Verdict.PASSED, report.as_json()
    assert_published(root, report.summary["entries"])
