"""Schemathesis against a real server: `stele serve` on loopback, on SQLite and on PostgreSQL.

The same fuzzing as tests/api/test_schemathesis.py (its checks, principals, seed data and the
error answers it declares), but over HTTP to a running process: the OpenAPI it serves, uvicorn,
the middleware (bounded bodies, strict JSON), the background log worker and a real database
all take part. Every answer must be no 5xx, conform to the OpenAPI, and every error must be
RFC 9457 problem+json. Callers without a token are fuzzed on the public operations too (the
server runs without a rate limit, which test_http_limits.py covers).

Bounded: EXAMPLES cases per operation, per caller and per generation mode; about a minute per
store on two cores.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from ledger.config import Database, Settings
from ledger.service import Ledger
from tests.api.test_schemathesis import (
    CHECKS,
    OPERATIONS,
    PRINCIPALS,
    PROBLEM,
    PUBLIC,
    _seed,
    declared,
)
from tests.api.test_serve_load import Server, _principal, _start
from tests.conftest import database_url, drop_schema, postgres_database

pytestmark = pytest.mark.slow  # a server process, and fuzzing: left out of `make test-fast`

EXAMPLES = 20
CALLERS = [*sorted(PRINCIPALS), "anonymous"]


def every_error_is_a_problem(ctx: Any, response: Any, case: Any) -> bool | None:
    if response.status_code >= 400:
        media = response.headers.get("content-type", [""])
        media = media[0] if isinstance(media, list) else media
        assert media == PROBLEM, f"{response.status_code} answered as {media!r}"
        body = response.json()
        assert body["status"] == response.status_code and body["code"], body
    return None


@dataclass
class Live:
    server: Server
    schema: Any  # schemathesis' OpenApiSchema, calling the server over HTTP
    tokens: dict[str, str]


@pytest.fixture(scope="module",
                params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def live(request: pytest.FixtureRequest,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    tmp: Path = tmp_path_factory.mktemp(f"fuzz-{request.param}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("STELE_")}
    env.update(STELE_DATA_DIR=str(tmp / "data"), PYTHONUNBUFFERED="1", STELE_ENV="dev",
               STELE_RATE_LIMIT="off")
    if request.param == "sqlite":
        database = Database(kind="sqlite", path=tmp / "data" / "ledger.sqlite3")
    else:
        database = postgres_database()
        env["STELE_DATABASE_URL"] = database_url(database)
    try:
        with Ledger(Settings(data_dir=tmp / "data", database=database, dev=True)) as ledger:
            _seed(ledger)  # records, a hold, a checkpoint: before the server owns the store
        server = _start(env, tmp)
        try:
            tokens = {name: _principal(server, role, agency, name)
                      for name, (role, agency) in PRINCIPALS.items()}
            spec = httpx2.get(f"{server.url}/openapi.json", timeout=30).json()
            schema = schemathesis.openapi.from_dict(declared(spec))
            schema.config.update(base_url=server.url)
            yield Live(server, schema, tokens)
        finally:
            server.stop()
        errors = server.stderr.read_text()
        assert "Traceback" not in errors, errors[-3000:]
    finally:
        if database.kind == "postgres":
            drop_schema(database)


def _fuzz(live: Live, who: str, method: str, path: str, mode: GenerationMode) -> None:
    operation = live.schema[path][method]
    headers = {} if who == "anonymous" else {"Authorization": f"Bearer {live.tokens[who]}"}

    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(mode, headers=headers), key=st.uuids())
    def run(case: Any, key: Any) -> None:
        if method == "POST":  # a fresh key each time: a replayed answer would hide the call
            case.headers = {**(case.headers or {}), "Idempotency-Key": str(key)}
        case.call_and_validate(base_url=live.server.url, timeout=30,
                               checks=[*CHECKS, every_error_is_a_problem])

    run()


def _callers(method: str, path: str) -> list[str]:
    return CALLERS if (method, path) in PUBLIC else sorted(PRINCIPALS)


CASES = [(who, method, path) for method, path in OPERATIONS for who in _callers(method, path)]
CASE_IDS = [f"{who} {method} {path}" for who, method, path in CASES]


@pytest.mark.parametrize(("who", "method", "path"), CASES, ids=CASE_IDS)
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
                         ids=["valid", "invalid"])
def test_a_real_server_gives_no_5xx_and_only_problems(live: Live, who: str, method: str,
                                                      path: str, mode: GenerationMode) -> None:
    try:
        _fuzz(live, who, method, path, mode)
    except Unsatisfiable:
        if mode is GenerationMode.POSITIVE:
            raise
        pytest.skip("no input of this operation can be made invalid")
