"""Request and response models. Action bodies are generated from the domain's own signatures
(via `ledger.service.ACTION_PARAMS`), so the API, the CLI and the domain cannot drift apart."""

from __future__ import annotations

import typing
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model

from domain.dossier import Dossier
from domain.record import Record
from ledger.access.policy import MAX_INDEX
from ledger.records import ACTION_PARAMS, ACTIONS


def _hints(action: str) -> dict[str, Any]:
    """Type hints of the action's params: from the domain method an action calls, else from
    the service's own handler."""
    handler = ACTIONS[action]
    method = getattr(Record, handler.__name__, None) or getattr(Dossier, handler.__name__, None)
    return typing.get_type_hints(method if hasattr(handler, "__signature__") else handler)


def target_of(action: str) -> str | None:
    """The aggregate an action acts on, taken from the URL path: `record`, `dossier`,
    (a trust) `anchor` or `catalog`."""
    first = next(iter(ACTION_PARAMS[action].parameters), None)
    return first if first in ("record", "dossier", "anchor", "catalog") else None


def _action_model(action: str) -> type[BaseModel]:
    hints = _hints(action)
    fields: dict[str, Any] = {}
    for name, param in ACTION_PARAMS[action].parameters.items():
        if name == target_of(action):
            continue
        default = ... if param.default is param.empty else param.default
        fields[name] = (hints.get(name, Any), default)
    title = "".join(part.capitalize() for part in action.replace(".", "_").split("_"))
    return create_model(
        title + "Request", __config__=ConfigDict(extra="forbid", strict=True), **fields
    )


ACTION_MODELS: dict[str, type[BaseModel]] = {action: _action_model(action) for action in ACTIONS}


class BatchAction(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: str = Field(description="One of " + ", ".join(sorted(ACTIONS)))
    params: dict[str, Any] = Field(default_factory=dict)
    expected_version: int | None = Field(default=None, ge=1)


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    actions: list[BatchAction] = Field(min_length=1, max_length=1000)


class WrittenEventModel(BaseModel):
    record: str
    version: int
    type: str
    hash: str
    event: dict[str, Any]


class WriteResponse(BaseModel):
    events: list[WrittenEventModel]


class PrincipalRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    role: str
    agency: str


VERIFY_PAGE = 20  # records per page of POST /v1/verify, by default
VERIFY_PAGE_MAX = 100


class VerifyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    digest: str = Field(description="sha-256:<64 hex> of the document")
    limit: int = Field(default=VERIFY_PAGE, ge=1, le=VERIFY_PAGE_MAX,
                       description=f"Records per page, at most {VERIFY_PAGE_MAX}")
    cursor: int = Field(default=-1, ge=-1, le=MAX_INDEX,
                        description="`next` of the previous page (a log position)")
