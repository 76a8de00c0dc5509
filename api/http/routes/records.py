"""Records and dossiers: every lifecycle action, the batch endpoint, and reads."""

from __future__ import annotations

import inspect
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from api.http.deps import CurrentPrincipal, LedgerDep
from api.http.models import ACTION_MODELS, BatchRequest, WriteResponse, target_of
from api.http.writes import expected_version, write
from ledger.access.policy import (
    EVIDENCE_READERS,
    MAX_INDEX,
    READ_ALL,
    READ_OWN,
    allow,
    check_read,
    listed_agency,
)
from ledger.access.principals import Principal
from ledger.bundle import export
from ledger.records import ACTIONS, Command
from ledger.service import Ledger

router = APIRouter(prefix="/v1", tags=["records"])

IdempotencyKey = Annotated[str | None, Header(description="Retries with the same key return "
                                              "the first answer and write nothing twice.")]
IfMatch = Annotated[str | None, Header(description='The record\'s ETag (its version, e.g. "3"):'
                                       " refuse with 409 if it changed since.")]

# (path, action, success status) of every write route.
WRITE_ROUTES: list[tuple[str, str, int]] = [
    ("/records", "record.create", 201),
    ("/records/{record}/sign", "record.sign", 200),
    ("/records/{record}/file", "record.file", 200),
    ("/records/{record}/access", "record.access.change", 200),
    ("/records/{record}/appraise", "record.appraise", 200),
    ("/records/{record}/holds", "record.hold.place", 200),
    ("/records/{record}/holds/release", "record.hold.release", 200),
    ("/records/{record}/destruction/approve", "record.destruction.approve", 200),
    ("/records/{record}/destruction/execute", "record.destruction.execute", 200),
    ("/dossiers", "dossier.open", 201),
    ("/dossiers/{dossier}/close", "dossier.close", 200),
    ("/trust/anchors", "trust.register", 201),
    ("/trust/anchors/{anchor}/suspend", "trust.suspend", 200),
    ("/trust/anchors/{anchor}/reinstate", "trust.reinstate", 200),
    ("/trust/anchors/{anchor}/retire", "trust.retire", 200),
    ("/catalogs/{catalog}", "catalog.publish", 201),
]


def _write_endpoint(action: str, status: int) -> Any:
    model = ACTION_MODELS[action]
    target = target_of(action)

    def endpoint(**kwargs: Any) -> JSONResponse:
        request: Request = kwargs["request"]
        body: BaseModel = kwargs["body"]
        params = body.model_dump()
        if target is not None:
            params[target] = kwargs[target]  # from the URL path
        command = Command(action, params, expected_version(kwargs["if_match"]))
        # The whole request: path, If-Match and body (a retry with another If-Match differs).
        fingerprint = f"{request.url.path}\n{kwargs['if_match']}\n{body.model_dump_json()}"
        return write(kwargs["ledger"], kwargs["principal"],
                     [command], key=kwargs["idempotency_key"], fingerprint=fingerprint,
                     status=status)

    # FastAPI reads the endpoint's parameters from its signature: declare them, with this
    # action's body model, since they differ per action.
    P = inspect.Parameter
    params = [
        P("request", P.KEYWORD_ONLY, annotation=Request),
        P("principal", P.KEYWORD_ONLY, annotation=CurrentPrincipal),
        P("ledger", P.KEYWORD_ONLY, annotation=LedgerDep),
        P("body", P.KEYWORD_ONLY, annotation=model),
    ]
    if target is not None:
        params.append(P(target, P.KEYWORD_ONLY, annotation=str))
    params += [
        P("idempotency_key", P.KEYWORD_ONLY, annotation=IdempotencyKey, default=None),
        P("if_match", P.KEYWORD_ONLY, annotation=IfMatch, default=None),
    ]
    endpoint.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    endpoint.__name__ = action.replace(".", "_")
    return endpoint


for _path, _action, _status in WRITE_ROUTES:
    router.add_api_route(
        _path, _write_endpoint(_action, _status), methods=["POST"], status_code=_status,
        response_model=WriteResponse, summary=_action,
        tags=[_action.split(".")[0]] if _action.startswith(("trust.", "catalog.")) else None,
        description=inspect.getdoc(ACTIONS[_action]) or _action,
    )


@router.post("/batch", response_model=WriteResponse, summary="Up to 1,000 actions, all or nothing")
def batch(request: Request, principal: CurrentPrincipal, ledger: LedgerDep, body: BatchRequest,
          idempotency_key: IdempotencyKey = None) -> JSONResponse:
    commands = [Command(a.action, dict(a.params), a.expected_version) for a in body.actions]
    return write(ledger, principal, commands,
                 key=idempotency_key, fingerprint=f"{request.url.path}\n{body.model_dump_json()}")


# -- reads -------------------------------------------------------------------------------------
def _shown(ledger: Ledger, principal: Principal, record: str) -> dict[str, Any]:
    allow(principal, READ_ALL | READ_OWN, "read records")  # before looking anything up
    shown = ledger.records.describe(record)
    state = shown["state"]
    check_read(principal, state.get("creator", state["custodian"]), state["custodian"])
    return shown


@router.get("/records/{record}", summary="A record's (or dossier's) state and event chain")
def get_record(record: str, principal: CurrentPrincipal, ledger: LedgerDep) -> JSONResponse:
    shown = _shown(ledger, principal, record)
    return JSONResponse(shown, headers={"ETag": f'"{len(shown["events"])}"'})


@router.get("/records/{record}/history", summary="The record's events, as canonical JSON")
def get_history(record: str, principal: CurrentPrincipal, ledger: LedgerDep) -> dict[str, Any]:
    shown = _shown(ledger, principal, record)
    return {"record": shown["id"], "events": shown["events"]}


@router.get("/records", summary="Records in log order, by agency, with a cursor")
def list_records(
    principal: CurrentPrincipal, ledger: LedgerDep,
    agency: Annotated[str | None, Query(description="Registered or held by this agency")] = None,
    kind: Annotated[str, Query(pattern="^(record|dossier)$")] = "record",
    cursor: Annotated[int, Query(ge=-1, le=MAX_INDEX,
                                 description="`next` of the previous page")] = -1,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    rows = ledger.records.list_records(agency=listed_agency(principal, agency), kind=kind,
                                       after=cursor,
                                       limit=limit)
    items = [{"id": r[0], "creator": r[1], "custodian": r[2], "first_leaf": r[3],
              "destroyed": r[4] is not None} for r in rows]
    return {"items": items, "next": rows[-1][3] if len(rows) == limit else None}


@router.get("/records/{record}/evidence", summary="The record's evidence bundle (a ZIP)",
            response_class=Response,
            responses={200: {"content": {"application/zip": {}},
                             "description": "docs/evidence-bundle.md; `stele verify` checks it"}})
def get_evidence(
    record: str, principal: CurrentPrincipal, ledger: LedgerDep,
    with_content: Annotated[bool, Query(description="Include the document itself")] = False,
) -> Response:
    allow(principal, EVIDENCE_READERS, "export evidence")  # before looking anything up
    if principal.role in READ_OWN:
        state = ledger.records.describe(record)["state"]
        check_read(principal, state.get("creator", state["custodian"]), state["custodian"])
    data = export(ledger, record, with_content=with_content)
    return Response(data, media_type="application/zip", headers={
        "Content-Disposition": f'attachment; filename="evidence-{record}.zip"'})
