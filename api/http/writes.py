"""Every write through HTTP: role check, idempotency, the ledger, the answer, one log line."""

from __future__ import annotations

import json
from typing import Any

import structlog
from fastapi.responses import JSONResponse

from api.http.deps import actor_of
from api.http.problems import ApiError, problem, status_of
from domain.errors import DomainError
from ledger.access.policy import check_action
from ledger.access.principals import Principal
from ledger.records import Command, WrittenEvent
from ledger.service import Ledger
from ledger.store.recorders import Statements

log = structlog.get_logger("stele.write")


def expected_version(if_match: str | None) -> int | None:
    """`If-Match: "3"` (the record's ETag, its version) -> 3."""
    if if_match is None or if_match.strip() == "*":
        return None
    try:
        return int(if_match.strip().removeprefix("W/").strip('"'))
    except ValueError:
        raise ApiError("invalid_input", 'If-Match must be the record\'s ETag, e.g. "3"') from None


def write(
    ledger: Ledger,
    principal: Principal,
    commands: list[Command],
    *,
    key: str | None,
    fingerprint: str,
    status: int = 200,
) -> JSONResponse:
    for command in commands:
        check_action(principal, command.action)
    idempotency = ledger.idempotency
    if key is not None:
        replay = idempotency.claim(principal.id, key, fingerprint.encode("utf-8"))
        if replay is not None:
            return JSONResponse(replay.body, status_code=replay.status,
                                headers={"Idempotent-Replayed": "true"},
                                media_type=_media_type(replay.status))
    def answered(events: list[WrittenEvent]) -> Statements:
        """The answer, stored with the events: a retry after any crash gets it again."""
        assert key is not None
        return [idempotency.answer_statement(principal.id, key, status, _body(events))]

    try:
        if key is None:
            events = ledger.records.execute(actor_of(principal), commands)
        else:
            with idempotency.keep_alive(principal.id, key):
                events = ledger.records.execute(actor_of(principal), commands, also=answered)
    except DomainError as exc:
        answer = problem(status_of(exc.code), exc.code, exc.message,
                         evidence=_jsonable(exc.evidence))
        if key is not None:
            if answer.status_code < 500:
                idempotency.answer(principal.id, key, answer.status_code,
                                   json.loads(bytes(answer.body)))
            else:
                idempotency.release(principal.id, key)
        return answer
    except BaseException:
        if key is not None:
            idempotency.release(principal.id, key)
        raise
    body = _body(events)
    for e in events:
        log.info("ledger.write", record=e.record, type=e.type, version=e.version, hash=e.hash,
                 principal=principal.id)
    return JSONResponse(body, status_code=status)


def _body(events: list[WrittenEvent]) -> dict[str, Any]:
    return {"events": [e.as_json() for e in events]}


def _media_type(status: int) -> str:
    return "application/problem+json" if status >= 400 else "application/json"


def _jsonable(evidence: dict[str, Any]) -> dict[str, Any]:
    return {k: v if isinstance(v, str | int | bool | None | list | dict) else str(v)
            for k, v in evidence.items()}
