"""Exactly-once answers: a write's answer is committed with its events, so a retry after a crash
between the commit and the reply, at any later time, gets the original answer; the request's
fingerprint covers If-Match; answers are kept for the retention period, then purged."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ledger.config import Settings
from ledger.store.idempotency import Idempotency
from tests.api.conftest import AGENCY, Api
from tests.conftest import database_url

# Runs one POST through the real app, and is killed (SIGKILL) right after the ledger committed
# the write: the answer is never sent.
CRASH_AFTER_COMMIT = """
import json, os, signal, sys
from fastapi.testclient import TestClient
from api.http.app import create_app
from ledger.config import Settings
from ledger.records import Records

execute = Records.execute

def execute_then_die(self, *args, **kwargs):
    execute(self, *args, **kwargs)
    os.kill(os.getpid(), signal.SIGKILL)

Records.execute = execute_then_die
settings = Settings.from_env(sys.argv[1], sys.argv[2], dev=True)
with TestClient(create_app(settings, background=False)) as client:
    client.post(sys.argv[3], content=sys.argv[4], headers=json.loads(sys.argv[5]))
"""


def _crash_after_commit(settings: Settings, path: str, body: dict[str, Any],
                        headers: dict[str, str]) -> None:
    env = {**os.environ, "STELE_LOG_ORIGIN": settings.origin}
    done = subprocess.run(
        [sys.executable, "-c", CRASH_AFTER_COMMIT, database_url(settings.database),
         str(settings.data_dir), path, json.dumps(body),
         json.dumps({**headers, "Content-Type": "application/json"})],
        env=env, cwd=Path(__file__).parents[2], capture_output=True, text=True, timeout=120)
    assert done.returncode == -signal.SIGKILL, done.stderr


def _age_answers(api: Api, by: timedelta) -> None:
    """As if the answers had been stored `by` ago."""
    then = (datetime.now(UTC) - by).isoformat()
    with api.ledger.store.transaction() as tx:
        tx.execute(f"UPDATE {api.ledger.store.prefix}stele_idempotency SET created_at = ?",
                   (then,))


def _create_body(api: Api, number: int) -> dict[str, Any]:
    data = f"document {number}".encode()
    digest = api.upload("agency", data)
    return {"metadata": {"doc_type": "Công văn", "number": str(number),
                         "notation": f"{number}/CV", "issued": "2010-01-05", "issuer": AGENCY,
                         "subject": "Về việc thử", "language": "vi", "pages": 1,
                         "access": "open", "reliability": "born_digital"},
            "retention": 10, "schedule": "S-1",
            "content": {"digest": digest, "size": len(data), "media_type": "text/plain"}}


def test_a_write_whose_answer_was_lost_in_a_crash_gets_its_answer_on_retry(
        api: Api, settings: Settings) -> None:
    body = _create_body(api, 1)
    headers = api.headers("agency", **{"Idempotency-Key": "crash-1"})
    _crash_after_commit(settings, "/v1/records", body, headers)
    with api.ledger.store.transaction() as tx:
        assert tx.event_count() == 1  # the write committed before the crash
    retry = api.client.post("/v1/records", json=body, headers=headers)
    assert retry.status_code == 201, retry.text
    assert retry.headers["Idempotent-Replayed"] == "true"
    (event,) = retry.json()["events"]
    assert api.ledger.records.history(event["record"]) == [
        json.dumps(event["event"], ensure_ascii=False, separators=(",", ":")).encode()]
    # Long after any claim window (but within the retention period): the same answer.
    _age_answers(api, timedelta(hours=23))
    late = api.client.post("/v1/records", json=body, headers=headers)
    assert (late.status_code, late.json()) == (201, retry.json())
    with api.ledger.store.transaction() as tx:
        assert tx.event_count() == 1


def test_a_hold_whose_answer_was_lost_is_not_refused_as_existing(api: Api,
                                                                  settings: Settings) -> None:
    rid = api.create()
    path, body = f"/v1/records/{rid}/holds", {"hold": "H1", "reason": "thanh tra"}
    headers = api.headers("inspector", **{"Idempotency-Key": "crash-2"})
    _crash_after_commit(settings, path, body, headers)
    _age_answers(api, timedelta(minutes=5))  # the claim window is long past
    retry = api.client.post(path, json=body, headers=headers)
    assert retry.status_code == 200, retry.text  # not 409 hold_exists
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.json()["events"][0]["type"] == "record.hold_placed"


def test_if_match_is_part_of_the_request(api: Api) -> None:
    rid = api.create()
    path, body = f"/v1/records/{rid}/holds", {"hold": "H1", "reason": "r"}
    first = api.post(path, "agency", body, **{"Idempotency-Key": "k", "If-Match": '"1"'})
    assert first.status_code == 200, first.text
    other = api.post(path, "agency", body, **{"Idempotency-Key": "k", "If-Match": '"2"'})
    assert (other.status_code, other.json()["code"]) == (422, "idempotency_key_reused")
    same = api.post(path, "agency", body, **{"Idempotency-Key": "k", "If-Match": '"1"'})
    assert same.headers["Idempotent-Replayed"] == "true"


def test_answers_are_kept_for_the_retention_period_then_purged(api: Api) -> None:
    rid = api.create()
    path = f"/v1/records/{rid}/holds"
    assert api.post(path, "agency", {"hold": "H1", "reason": "r"},
                    **{"Idempotency-Key": "old"}).status_code == 200
    idempotency: Idempotency = api.ledger.idempotency
    assert idempotency.retention == timedelta(hours=settings_hours(api))
    assert idempotency.purge() == 0  # fresh: kept
    _age_answers(api, idempotency.retention + timedelta(minutes=1))
    # Expired: the key is new again, even before the purge runs.
    again = api.post(path, "agency", {"hold": "H2", "reason": "r"}, **{"Idempotency-Key": "old"})
    assert again.status_code == 200 and "Idempotent-Replayed" not in again.headers
    _age_answers(api, idempotency.retention + timedelta(minutes=1))
    assert idempotency.purge() == 1
    with api.ledger.store.transaction() as tx:
        rows = tx.execute(f"SELECT COUNT(*) FROM {api.ledger.store.prefix}stele_idempotency")
        assert rows.fetchone()[0] == 0


def settings_hours(api: Api) -> int:
    return api.ledger.settings.idempotency_hours
