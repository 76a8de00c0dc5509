"""Logging in and out of the pages, and the language switch. A principal's token is exchanged
for a session cookie (HttpOnly, SameSite=Strict, Secure over TLS); the login form itself is
protected by a double-submit CSRF cookie, every later form by the session's token."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.http.web.messages import LANGUAGES
from api.http.web.render import (
    LANG_COOKIE,
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    SESSION_LIFETIME,
    PageError,
    form,
    ledger_of,
    page,
    read_form,
    safe_next,
    set_cookie,
    viewer,
)

router = APIRouter(include_in_schema=False)
HOME = {"committee": "/committee", "auditor": "/audit", "agency": "/records",
        "archivist": "/records"}
NextPage = Annotated[str, Query(alias="next", max_length=500)]


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next_page: NextPage = "") -> HTMLResponse:
    return _login(request, safe_next(next_page, ""), failed=False)


def _login(request: Request, next_page: str, *, failed: bool) -> HTMLResponse:
    csrf = secrets.token_urlsafe(32)
    answer = page(request, "login.html", status_code=401 if failed else 200, csrf=csrf,
                  next_page=next_page, failed=failed)
    set_cookie(request, answer, LOGIN_CSRF_COOKIE, csrf, max_age=3600)
    return answer


@router.post("/login")
async def login(request: Request) -> Response:
    values = await read_form(request)
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not secrets.compare_digest(values.get("csrf", ""), expected):
        raise PageError(403, "csrf_invalid")
    ledger = ledger_of(request)
    principal = ledger.principals.authenticate(values.get("token", "").strip())
    next_page = safe_next(values.get("next"), "")
    if principal is None:
        return _login(request, next_page, failed=True)
    session, _ = ledger.principals.open_session(principal, SESSION_LIFETIME)
    answer = RedirectResponse(next_page or HOME.get(principal.role, "/"), 303)
    set_cookie(request, answer, SESSION_COOKIE, session,
               max_age=int(SESSION_LIFETIME.total_seconds()))
    answer.delete_cookie(LOGIN_CSRF_COOKIE, path="/")
    return answer


@router.post("/logout")
async def logout(request: Request) -> Response:
    who = viewer(request)
    await form(request, who)
    ledger_of(request).principals.close_session(request.cookies[SESSION_COOKIE])
    answer = RedirectResponse("/", 303)
    answer.delete_cookie(SESSION_COOKIE, path="/")
    return answer


@router.get("/lang/{code}")
def switch_language(code: str, request: Request, next_page: NextPage = "/") -> Response:
    if code not in LANGUAGES:
        raise PageError(404, "not_found")
    answer = RedirectResponse(safe_next(next_page), 303)
    set_cookie(request, answer, LANG_COOKIE, code, max_age=365 * 86400)
    return answer
