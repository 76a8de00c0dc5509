"""Dependencies: the ledger, the authenticated principal, and role checks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from starlette.datastructures import Headers

from api.http.problems import ApiError
from domain.envelope import Actor
from ledger.access.principals import Principal
from ledger.service import Ledger


def get_ledger(request: Request) -> Ledger:
    ledger: Ledger = request.app.state.ledger
    return ledger


LedgerDep = Annotated[Ledger, Depends(get_ledger)]


def bearer_token(headers: Headers) -> str | None:
    """The token of `Authorization: Bearer <token>`, if that is what the header holds."""
    scheme, _, token = headers.get("authorization", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def current_principal(request: Request, ledger: LedgerDep) -> Principal:
    token = bearer_token(request.headers)
    if token is None:
        raise ApiError("unauthenticated", "send Authorization: Bearer <token>")
    principal = ledger.principals.authenticate(token)
    if principal is None:
        raise ApiError("unauthenticated", "unknown or revoked token")
    request.state.principal = principal.id
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def optional_principal(request: Request, ledger: LedgerDep) -> Principal | None:
    """Public operations answer anyone: a valid bearer token may show more (what its
    principal may read); anything else is anonymous, never an error."""
    token = bearer_token(request.headers)
    return None if token is None else ledger.principals.authenticate(token)


MaybePrincipal = Annotated[Principal | None, Depends(optional_principal)]


def actor_of(principal: Principal) -> Actor:
    """The actor recorded in events: always the authenticated principal, never client input."""
    return Actor(principal.id, principal.role, principal.agency)


def require(*roles: str) -> Callable[[Principal], Principal]:
    def check(principal: CurrentPrincipal) -> Principal:
        if principal.role not in roles:
            raise ApiError("forbidden", f"role {principal.role!r} may not do this",
                           allowed=sorted(roles))
        return principal

    return check

