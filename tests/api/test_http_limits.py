"""What the HTTP layer refuses before any route runs, and how it says so: strict JSON, bounded
bodies (on the bytes received), the rate limit of callers without a token, the paged document
check, and a 500 that leaves its cause in the server log. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import io
import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import structlog
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse
from fastapi.testclient import TestClient
from starlette.requests import Request

from api.http.app import create_app, log_processors
from api.http.limits import MAX_JSON_BYTES, MAX_JSON_DEPTH, TokenBuckets, parse_json
from api.http.problems import problem, validation_error
from ledger.config import RateLimit, Settings, parse_rate_limit
from ledger.errors import ConfigError
from tests.api.conftest import AGENCY, ROLES, Api
from tests.api.test_serve_load import Server, _start
from tests.conftest import database_url, drop_schema, postgres_database

PROBLEM = "application/problem+json"
JSON = {"Content-Type": "application/json"}
DIGEST = "sha-256:" + "ab" * 32


def _problem(answer: Any, status: int, code: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == PROBLEM
    body: dict[str, Any] = json.loads(answer.content.decode("utf-8"))  # strict UTF-8
    assert body["code"] == code and body["status"] == status
    return body


def _metadata(number: int) -> dict[str, Any]:
    return {"doc_type": "Công văn", "number": str(number), "notation": f"{number}/CV",
            "issued": "2010-01-05", "issuer": AGENCY, "subject": "Về việc thử",
            "language": "vi", "pages": 1, "access": "open", "reliability": "born_digital"}


def _create(digest: str, size: int, number: int) -> dict[str, Any]:
    return {"metadata": _metadata(number), "retention": 10, "schedule": "S-1",
            "content": {"digest": digest, "size": size, "media_type": "text/plain"}}


@pytest.fixture
def app_with(settings: Settings) -> Iterator[Any]:
    """`app_with(**changes)`: an Api on an app whose settings have these changes."""
    clients: list[TestClient] = []

    def make(**changes: Any) -> Api:
        app = create_app(replace(settings, **changes), background=False)
        client = TestClient(app)
        client.__enter__()
        clients.append(client)
        tokens = {name: app.state.ledger.principals.add(name=name, role=role, agency=agency)[1]
                  for name, (role, agency) in ROLES.items()}
        return Api(client, app.state.ledger, tokens)

    yield make
    for client in clients:
        client.__exit__(None, None, None)


# -- A. strict JSON ------------------------------------------------------------------------------
def _nested(levels: int) -> bytes:
    return b'{"a":' * (levels - 1) + b"[]" + b"}" * (levels - 1)


# (what, a JSON text that is refused). Escapes are JSON's: the body bytes are plain ASCII.
REFUSED = [
    ("lone surrogate", b'"\\ud800"'),
    ("lone low surrogate", b'"a\\udc00b"'),
    ("lone surrogate as a name", b'{"\\ud800": 1}'),
    ("NaN", b"NaN"),
    ("Infinity", b"Infinity"),
    ("-Infinity", b"-Infinity"),
    ("a number beyond a double", b"1e999"),
    ("NUL", b'"a\\u0000b"'),
    ("NUL in a name", b'{"a\\u0000": 1}'),
    ("a name twice", b'{"a": 1, "a": 2}'),
    (f"{MAX_JSON_DEPTH + 1} levels", _nested(MAX_JSON_DEPTH + 1)),
    ("255 levels", _nested(255)),
    ("100,000 levels", b"[" * 100_000 + b"]" * 100_000),
    ("raw surrogate bytes", b'"\xed\xa0\x80"'),
    ("not UTF-8", b'"\xff"'),
]
# Where the value goes in each route's body, and who asks.
ROUTES: dict[str, tuple[str | None, Callable[[bytes], bytes]]] = {
    "/v1/verify": (None, lambda v: b'{"digest": ' + v + b"}"),
    "/v1/dossiers": ("agency", lambda v: b'{"code": ' + v + b', "title": "t", "retention": 5}'),
    "/v1/records": ("agency", lambda v: b'{"metadata": {"subject": ' + v + b"}}"),
    "/v1/batch": ("agency", lambda v: b'{"actions": [{"action": "dossier.open", "params": '
                                      b'{"code": "D1", "title": ' + v + b', "retention": 5}}]}'),
}


@pytest.mark.parametrize("path", sorted(ROUTES))
@pytest.mark.parametrize(("what", "value"), REFUSED, ids=[w for w, _ in REFUSED])
def test_json_that_is_not_strict_is_refused_with_422(api: Api, path: str, what: str,
                                                      value: bytes) -> None:
    who, body_of = ROUTES[path]
    body = body_of(value)
    answer = api.client.post(path, content=body,
                             headers=api.headers(who, **JSON, **{"Idempotency-Key": "k"}))
    found = _problem(answer, 422, "invalid_json")  # it encodes: no input is echoed raw
    assert found["errors"] and found["detail"].startswith("invalid JSON")


def test_the_error_says_where_without_repeating_what(api: Api) -> None:
    for body, field in [(b'{"actions": [{"\\ud800": {"x": 1}}]}', "actions.0"),
                        (b'{"actions": [{"params": {"x": "\\udfff"}}]}', "actions.0.params.x")]:
        found = _problem(api.client.post("/v1/batch", content=body, headers=api.headers(
            "agency", **JSON)), 422, "invalid_json")
        assert found["errors"] == [{"field": field, "message": found["detail"].removeprefix(
            "invalid JSON: ")}]
        assert "udfff" not in found["errors"][0]["message"].replace("\\ud800-\\udfff", "")


def test_what_strict_json_still_takes(api: Api) -> None:
    # Surrogate pairs are characters; other escapes and non-ASCII text pass; 32 levels pass.
    assert parse_json(b'"\\ud83d\\ude00 \\u00e9 \\u0001"') == "\U0001f600 \u00e9 \x01"
    assert parse_json(_nested(MAX_JSON_DEPTH)) is not None
    assert parse_json(b"\xef\xbb\xbf[1.5]") == [1.5]  # a UTF-8 byte order mark is ignored
    digest = api.upload("agency", b"strict")
    record = _create(digest, 6, 1)
    record["metadata"]["subject"] = "Về việc \ud83d\ude00"
    body = json.dumps(record).encode()  # ensure_ascii: the emoji as a pair of escapes
    assert b"\\ud83d\\ude00" in body
    answer = api.client.post("/v1/records", content=body, headers=api.headers("agency", **JSON))
    assert answer.status_code == 201, answer.text
    deep = {"actions": [{"action": "dossier.open", "params": json.loads(_nested(29))}]}
    answer = api.post("/v1/batch", "agency", deep)
    assert answer.json()["code"] != "invalid_json" and answer.status_code < 500, answer.text


def test_a_body_sent_with_get_is_ignored_as_before(api: Api) -> None:
    answer = api.client.request("GET", "/v1/log/status", content=b"NaN", headers=JSON)
    assert answer.status_code == 200, answer.text


def _request() -> Request:
    return Request({"type": "http", "method": "POST", "path": "/", "headers": [],
                    "query_string": b"", "state": {}})


def test_validation_errors_never_fail_to_encode() -> None:
    exc = RequestValidationError([
        {"type": "extra_forbidden", "loc": ("body", "\ud800", 0), "msg": "Extra \udfff inputs",
         "input": "\ud800"}])
    answer = asyncio.run(validation_error(_request(), exc))
    body = json.loads(bytes(answer.body).decode("utf-8"))
    assert answer.status_code == 422 and body["code"] == "invalid_input"
    assert body["errors"] == [{"field": "\\ud800.0", "message": "Extra \\udfff inputs"}]


def test_problem_answers_always_encode() -> None:
    answer = problem(409, "conflict", "x\ud800", evidence={"n": float("nan"), "\udc00": [
        float("inf"), object()]})
    body = json.loads(bytes(answer.body).decode("utf-8"))
    assert body["detail"] == "x\\ud800"
    assert body["evidence"]["n"] == "nan" and body["evidence"]["\\udc00"][0] == "inf"


# -- B. a 500 leaves its cause in the log ------------------------------------------------------
@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """The server's own log format (log_processors), written here for the test to read."""
    saved = structlog.get_config()
    out = io.StringIO()
    structlog.configure(processors=log_processors(),
                        logger_factory=structlog.PrintLoggerFactory(out),
                        cache_logger_on_first_use=False)
    try:
        yield out
    finally:
        structlog.configure(**saved)


def _logged(out: io.StringIO, event: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in out.getvalue().splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("event") == event]


def _failing_app(settings: Settings) -> FastAPI:
    app = create_app(settings, background=False)

    def fails() -> None:
        raise RuntimeError("the disk caught fire")

    def fails_while_streaming() -> StreamingResponse:
        def chunks() -> Iterator[bytes]:
            yield b"["
            raise RuntimeError("the disk caught fire mid-answer")
        return StreamingResponse(chunks(), media_type="application/json")

    app.add_api_route("/test/fails", fails)
    app.add_api_route("/test/fails-while-streaming", fails_while_streaming)
    return app


def test_a_500_logs_its_exception_under_the_answers_request_id(
        settings: Settings, log_lines: io.StringIO) -> None:
    with TestClient(_failing_app(settings), raise_server_exceptions=False) as client:
        answer = client.get("/test/fails")
    body = _problem(answer, 500, "internal")
    assert "fire" not in answer.text  # the cause is for the log only
    assert body["request_id"] == answer.headers["x-request-id"]
    (logged,) = _logged(log_lines, "internal_error")
    assert logged["request_id"] == body["request_id"] and logged["level"] == "error"
    assert logged["error"] == "RuntimeError: the disk caught fire"
    assert logged["exception"].startswith("Traceback")
    assert 'raise RuntimeError("the disk caught fire")' in logged["exception"]
    (request,) = _logged(log_lines, "request")
    assert request["request_id"] == body["request_id"] and request["status"] == 500


def test_a_failure_after_the_answer_started_is_logged_too(settings: Settings,
                                                          log_lines: io.StringIO) -> None:
    with TestClient(_failing_app(settings), raise_server_exceptions=False) as client:
        answer = client.get("/test/fails-while-streaming", headers={"X-Request-Id": "req-7"})
    assert answer.headers["x-request-id"] == "req-7"
    logged = _logged(log_lines, "internal_error")
    assert [e["request_id"] for e in logged] == ["req-7"]
    assert "RuntimeError: the disk caught fire mid-answer" in logged[0]["exception"]


# -- C. bounded bodies ----------------------------------------------------------------------------
CHUNK = 256 * 1024
OVER = MAX_JSON_BYTES + CHUNK


def _chunks(total: int) -> Iterator[bytes]:
    # A JSON text that is longer than the limit: no Content-Length is sent with a generator.
    yield b'{"digest": "'
    for _ in range(total // CHUNK):
        yield b"a" * CHUNK
    yield b'"}'


@pytest.mark.parametrize("path", ["/v1/verify", "/v1/records", "/v1/batch"])
def test_chunked_bodies_over_the_limit_are_refused(api: Api, path: str) -> None:
    answer = api.client.post(path, content=_chunks(OVER), headers=api.headers("agency", **JSON))
    assert "content-length" not in answer.request.headers
    body = _problem(answer, 413, "too_large")
    assert body["evidence"]["limit"] == MAX_JSON_BYTES
    assert answer.headers["connection"] == "close"


@pytest.mark.parametrize("path", ["/v1/verify", "/v1/records", "/v1/batch"])
def test_a_content_length_that_lies_does_not_lift_the_limit(api: Api, path: str) -> None:
    data = b"".join(_chunks(OVER))
    answer = api.client.post(path, content=data,
                             headers=api.headers("agency", **JSON, **{"Content-Length": "100"}))
    assert answer.request.headers["content-length"] == "100"
    _problem(answer, 413, "too_large")


def test_a_declared_length_over_the_limit_is_refused_unread(api: Api) -> None:
    answer = api.client.post("/v1/verify", content=b"{}", headers={
        **JSON, "Content-Length": str(MAX_JSON_BYTES + 1)})
    _problem(answer, 413, "too_large")
    assert answer.headers["connection"] == "close"


def test_bodies_within_the_limit_are_read_whole(api: Api) -> None:
    answer = api.client.post("/v1/verify", content=_chunks(MAX_JSON_BYTES - CHUNK),
                             headers=JSON)
    _problem(answer, 422, "invalid_input")  # read and parsed: the digest is malformed


@pytest.mark.parametrize("path", ["/v1/verify", "/v1/records", "/v1/batch", "/v1/content"])
def test_an_endless_body_is_refused_after_the_limit_not_read_to_its_end(api: Api,
                                                                        path: str) -> None:
    """Straight through ASGI, with a body that would go on for 1 GiB: the answer comes once
    the limit is passed, and no more than one chunk past it is ever received."""
    limit = api.ledger.settings.max_content_bytes if path == "/v1/content" else MAX_JSON_BYTES
    answer, received = api.client.portal.call(  # type: ignore[union-attr]
        _endless, api.client.app, path, api.tokens["agency"])
    assert answer["status"] == 413, answer
    assert limit < received <= limit + CHUNK


def test_a_client_that_hangs_up_mid_body_is_no_server_error(api: Api,
                                                              log_lines: io.StringIO) -> None:
    answer, received = api.client.portal.call(  # type: ignore[union-attr]
        _endless, api.client.app, "/v1/verify", api.tokens["agency"], 2 * CHUNK)
    assert (answer["status"], received) == (400, 2 * CHUNK)
    assert _logged(log_lines, "internal_error") == []
    assert [e["status"] for e in _logged(log_lines, "request")] == [400]


async def _endless(app: Any, path: str, token: str,
                   hang_up_after: int | None = None) -> tuple[dict[str, Any], int]:
    """Call `app` with a body of 1 GiB in chunks (or one that stops, the client gone, after
    `hang_up_after` bytes); its first answer message and how many bytes it took."""
    received = 0
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal received
        if received == hang_up_after:
            return {"type": "http.disconnect"}
        received += CHUNK
        return {"type": "http.request", "body": b" " * CHUNK, "more_body": received < 2**30}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": path, "raw_path": path.encode(),
             "root_path": "", "query_string": b"", "client": ("127.0.0.1", 50000),
             "server": ("testserver", 80), "state": {},
             "headers": [(b"host", b"testserver"), (b"content-type", b"application/json"),
                         (b"authorization", f"Bearer {token}".encode())]}
    await app(scope, receive, send)
    return messages[0], received


def test_uploads_keep_their_own_limit_on_bytes_received(app_with: Any) -> None:
    api = app_with(max_content_bytes=1000)
    fits = api.client.post("/v1/content", content=iter([b"x" * 600, b"y" * 400]),
                           headers=api.headers("agency"))
    assert fits.status_code == 201, fits.text
    for headers in ({}, {"Content-Length": "10"}):
        answer = api.client.post("/v1/content", content=iter([b"x" * 600, b"y" * 401]),
                                 headers=api.headers("agency", **headers))
        assert _problem(answer, 413, "too_large")["evidence"]["limit"] == 1000
        assert answer.headers["connection"] == "close"
    # A JSON body beyond the upload limit (but within the JSON one) is no upload: not refused.
    answer = api.post("/v1/dossiers", "agency", {"code": "D" * 2000, "title": "t",
                                                 "retention": 5})
    assert answer.status_code != 413


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    """`stele serve` on loopback, on a fresh store; stopped (SIGTERM) afterwards."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STELE_")}
    env.update(STELE_DATA_DIR=str(tmp_path / "data"), PYTHONUNBUFFERED="1", STELE_ENV="dev",
               STELE_RATE_LIMIT="off")
    database = None
    if request.param == "postgres":
        database = postgres_database()
        env["STELE_DATABASE_URL"] = database_url(database)
    server = _start(env, tmp_path)
    try:
        yield server
    finally:
        server.stop()
        if database is not None:
            drop_schema(database)


@pytest.mark.slow
def test_a_real_server_answers_413_before_a_chunked_body_ends(served: Server) -> None:
    """Over a socket: a chunked body past the limit, its last chunk never sent. The server
    answers 413 at once and closes the connection (it does not wait for, or read, the rest)."""
    head = (b"POST /v1/verify HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n")
    chunk = b"%x\r\n%s\r\n" % (CHUNK, b"a" * CHUNK)
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", served.port), timeout=20) as s:
        s.sendall(head + b'd\r\n{"digest": "a\r\n')
        for _ in range(OVER // CHUNK):
            s.sendall(chunk)
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.endswith(b"}"):
            data = s.recv(65536)
            if not data:
                break
            answer += data
    elapsed = time.monotonic() - started
    status, _, rest = answer.partition(b"\r\n")
    assert status.startswith(b"HTTP/1.1 413 "), answer[:500]
    headers, _, body = rest.partition(b"\r\n\r\n")
    assert b"content-type: application/problem+json" in headers.lower()
    assert json.loads(body)["code"] == "too_large"
    assert elapsed < 10


# -- D. POST /v1/verify in pages ------------------------------------------------------------------
def test_verify_answers_in_pages(api: Api) -> None:
    data = b"one document, registered 150 times"
    digest = api.upload("agency", data)
    created = api.post("/v1/batch", "agency", {"actions": [
        {"action": "record.create", "params": _create(digest, len(data), n)}
        for n in range(1, 151)]})
    assert created.status_code == 200, created.text
    api.ledger.log.sync()
    in_log_order = [rid for rid, *_ in api.ledger.records.list_records(
        agency=AGENCY, kind="record", after=-1, limit=1000)]
    assert len(in_log_order) == 150

    first = api.post("/v1/verify", None, {"digest": digest}).json()
    assert (first["total"], len(first["records"]), first["registered"]) == (150, 20, True)
    seen, cursor, pages = [], -1, 0
    while cursor is not None:
        page = api.post("/v1/verify", None, {"digest": digest, "limit": 100,
                                             "cursor": cursor})
        assert page.status_code == 200, page.text
        body = page.json()
        seen += [r["record"] for r in body["records"]]
        if body["next"] is not None:
            assert body["next"] == body["records"][-1]["events"][0]["leaf_index"]
        cursor, pages = body["next"], pages + 1
        assert body["checkpoint"] and body["log_key"]
    assert (pages, seen) == (2, in_log_order)
    assert seen[:20] == [r["record"] for r in first["records"]]
    for limit in (0, 101):
        answer = api.post("/v1/verify", None, {"digest": digest, "limit": limit})
        _problem(answer, 422, "invalid_input")
    none = api.post("/v1/verify", None, {"digest": DIGEST}).json()
    assert (none["registered"], none["records"], none["total"], none["next"]) == (
        False, [], 0, None)


# -- E. rate limits -------------------------------------------------------------------------------
class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _limited(app_with: Any, requests: int = 3) -> tuple[Api, Clock]:
    api: Api = app_with(rate_limit=RateLimit(requests, 60.0))
    clock = Clock()
    api.client.app.state.rate_limits.clock = clock  # type: ignore[attr-defined]
    return api, clock


def _exhaust(api: Api, n: int) -> None:
    for _ in range(n):
        assert api.get("/v1/log/status", None).status_code == 200


def test_callers_without_a_token_are_rate_limited(app_with: Any) -> None:
    api, _ = _limited(app_with)
    _exhaust(api, 3)
    answer = api.get("/v1/log/status", None)
    body = _problem(answer, 429, "rate_limited")
    assert answer.headers["retry-after"] == "20"  # 3 per minute: one every 20 s
    assert "retry in 20 s" in body["detail"]
    # Every public operation shares the caller's bucket; POST /v1/verify too.
    _problem(api.post("/v1/verify", None, {"digest": DIGEST}), 429, "rate_limited")
    _problem(api.get("/v1/log/checkpoint", None), 429, "rate_limited")
    # Health checks are never limited.
    for _ in range(5):
        assert api.get("/healthz", None).status_code == 200
        assert api.get("/readyz", None).status_code == 200


def test_the_inspectors_look_up_and_the_login_are_rate_limited(app_with: Any) -> None:
    api, _ = _limited(app_with)
    inspect = f"/inspect?digest={DIGEST.removeprefix('sha-256:')}"
    for _ in range(2):
        assert api.client.get(inspect).status_code == 200
    assert api.client.post("/login", content=b"csrf=x",
                           headers={"content-type": "application/x-www-form-urlencoded"}
                           ).status_code == 403  # counted, then refused (no CSRF cookie)
    _problem(api.client.get(inspect), 429, "rate_limited")
    _problem(api.client.post("/login", content=b""), 429, "rate_limited")
    assert api.client.get("/").status_code == 200  # the page itself is not limited


def test_the_limit_is_per_client_address(app_with: Any) -> None:
    api, _ = _limited(app_with)
    _exhaust(api, 3)
    _problem(api.get("/v1/log/status", None), 429, "rate_limited")
    elsewhere = TestClient(api.client.app, client=("192.0.2.7", 40000))
    for _ in range(3):
        assert elsewhere.get("/v1/log/status").status_code == 200
    assert elsewhere.get("/v1/log/status").status_code == 429


def test_callers_with_a_valid_token_are_not_limited(app_with: Any) -> None:
    api, _ = _limited(app_with)
    for _ in range(10):  # none of these count
        assert api.get("/v1/log/status", "auditor").status_code == 200
        assert api.post("/v1/verify", "inspector", {"digest": DIGEST}).status_code == 200
    _exhaust(api, 3)
    assert api.get("/v1/log/status", "auditor").status_code == 200
    bogus = {"Authorization": "Bearer stl_not-a-token"}
    _problem(api.client.get("/v1/log/status", headers=bogus), 429, "rate_limited")


def test_the_bucket_refills(app_with: Any) -> None:
    api, clock = _limited(app_with)
    _exhaust(api, 3)
    _problem(api.get("/v1/log/status", None), 429, "rate_limited")
    clock.now += 19
    assert api.get("/v1/log/status", None).headers["retry-after"] == "1"
    clock.now += 1
    _exhaust(api, 1)
    _problem(api.get("/v1/log/status", None), 429, "rate_limited")
    clock.now += 3600  # full again, never more than the burst
    _exhaust(api, 3)
    _problem(api.get("/v1/log/status", None), 429, "rate_limited")


def test_no_rate_limit_when_it_is_off(app_with: Any) -> None:
    api = app_with(rate_limit=None)
    _exhaust(api, 200)


def test_buckets_stay_bounded() -> None:
    clock = Clock()
    buckets = TokenBuckets(RateLimit(2, 1.0), clock=clock, max_keys=100)
    for n in range(1000):
        assert buckets.take(f"10.0.{n // 256}.{n % 256}") == 0.0
    assert len(buckets._buckets) == 100
    clock.now += 1  # every bucket has refilled: forgotten on the next call
    buckets.take("192.0.2.1")
    assert list(buckets._buckets) == ["192.0.2.1"]


def test_openapi_declares_the_rate_limit() -> None:
    spec = create_app(Settings(), background=False).openapi()
    assert "429" in spec["paths"]["/v1/verify"]["post"]["responses"]
    assert "429" in spec["paths"]["/v1/log/status"]["get"]["responses"]
    assert "429" not in spec["paths"]["/healthz"]["get"]["responses"]
    assert "429" not in spec["paths"]["/v1/records"]["get"]["responses"]


# -- E, F. settings -------------------------------------------------------------------------------
@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.startswith("STELE_"):
            monkeypatch.delenv(name)
    return monkeypatch


def test_rate_limit_setting(clean_env: pytest.MonkeyPatch) -> None:
    assert Settings.from_env().rate_limit == RateLimit(120, 60.0)
    assert parse_rate_limit("60/minute") == RateLimit(60, 60.0)
    assert parse_rate_limit(" 5/Second ") == RateLimit(5, 1.0)
    assert parse_rate_limit("1000/hour") == RateLimit(1000, 3600.0)
    assert parse_rate_limit("off") is None
    clean_env.setenv("STELE_RATE_LIMIT", "off")
    assert Settings.from_env().rate_limit is None
    for bad in ("", "60", "0/minute", "-1/minute", "60/day", "sixty/minute", "½/minute"):
        clean_env.setenv("STELE_RATE_LIMIT", bad)
        with pytest.raises(ConfigError):
            Settings.from_env()


def test_idempotency_hours_setting(clean_env: pytest.MonkeyPatch) -> None:
    assert Settings.from_env().idempotency_hours == 24 == Settings().idempotency_hours
    clean_env.setenv("STELE_IDEMPOTENCY_HOURS", "72")
    assert Settings.from_env().idempotency_hours == 72
    for bad in ("23", "0", "-24", "24.5", "a day", ""):
        clean_env.setenv("STELE_IDEMPOTENCY_HOURS", bad)
        with pytest.raises(ConfigError) as refused:
            Settings.from_env()
        assert refused.value.code == "bad_config"


def test_max_content_bytes_setting(clean_env: pytest.MonkeyPatch) -> None:
    assert Settings.from_env().max_content_bytes == 512 * 1024 * 1024
    clean_env.setenv("STELE_MAX_CONTENT_BYTES", "1000")
    assert Settings.from_env().max_content_bytes == 1000
    for bad in ("0", "1e6", "lots"):
        clean_env.setenv("STELE_MAX_CONTENT_BYTES", bad)
        with pytest.raises(ConfigError):
            Settings.from_env()
