"""Several server processes on one PostgreSQL: concurrent writes through both, one log."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx2
import pytest

from ledger.bench.http import free_port
from ledger.config import Settings
from ledger.service import Ledger
from tests.conftest import database_url
from verifiers.report import Verdict

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def test_two_workers_share_one_log(settings: Settings) -> None:
    if settings.database.kind != "postgres":
        pytest.skip("several workers need PostgreSQL")
    with Ledger(settings) as ledger:
        _, token = ledger.principals.add(name="w", role="agency", agency="000.00.00.G01")
        digest = ledger.records.put_content(b"shared", agency="000.00.00.G01")
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(ROOT), STELE_DATA_DIR=str(settings.data_dir),
               STELE_DATABASE_URL=database_url(settings.database),
               STELE_LOG_ORIGIN=settings.origin, STELE_ENV="dev")
    server = subprocess.Popen([sys.executable, "-m", "api.cli", "serve", "--port", str(port),
                               "--workers", "2"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                if httpx2.get(base + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx2.HTTPError:
                time.sleep(0.1)
        acked: list[str] = []
        lock = threading.Lock()

        def client(n: int) -> None:
            with httpx2.Client(base_url=base, timeout=30,
                              headers={"Authorization": f"Bearer {token}"}) as http:
                for i in range(25):
                    answer = http.post("/v1/records", json={
                        "metadata": {"doc_type": "CV", "number": str(i), "notation": f"{i}/W{n}",
                                     "issued": "2020-01-01", "issuer": "000.00.00.G01",
                                     "subject": "s", "language": "vi", "pages": 1,
                                     "access": "open", "reliability": "born_digital"},
                        "retention": 10, "schedule": "S",
                        "content": {"digest": digest, "size": 6, "media_type": "text/plain"}})
                    assert answer.status_code == 201, answer.text
                    with lock:
                        acked.append(answer.json()["events"][0]["record"])

        threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        server.send_signal(signal.SIGTERM)
        _, err = server.communicate(timeout=60)
    assert server.returncode == 0, err
    assert len(acked) == 100
    with Ledger(settings) as ledger:
        status = ledger.log.status()
        assert status["integration_backlog"] == 0  # graceful stop integrated everything
        assert status["checkpoint"]["size"] == status["tree_size"]
        assert ledger.log.audit().bottom_line is Verdict.PASSED
        for rid in acked:
            assert ledger.records.leaf_indexes(rid)[0] is not None
