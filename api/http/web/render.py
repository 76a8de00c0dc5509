"""The pages' common ground: templates (autoescaped), the viewer's language and login, CSRF,
the security headers, and the one way a page refuses (a page, never a stack trace)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import ChainableUndefined, Environment, FileSystemLoader, select_autoescape

from api.http.limits import SESSION_COOKIE as SESSION_COOKIE  # beside the limit that reads it
from api.http.web.messages import LANGUAGES, MESSAGES, translator
from ledger.access.principals import Principal
from ledger.service import Ledger

HERE = Path(__file__).parent
STATIC = HERE / "static"
LOGIN_CSRF_COOKIE = "stele_login_csrf"
LANG_COOKIE = "stele_lang"
SESSION_LIFETIME = timedelta(hours=8)  # a working day; logging out ends it sooner
MAX_FORM_BYTES = 1 << 20  # a form of the pages: a certificate in PEM at most

# No inline script or style, nothing from elsewhere, no framing: what a page runs is ours.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}

_templates = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=ChainableUndefined, trim_blocks=True, lstrip_blocks=True,
)


class PageError(Exception):
    """A page's refusal: its status, the stable code and a message key the page shows."""

    def __init__(self, status: int, code: str, **context: Any) -> None:
        super().__init__(code)
        self.status, self.code, self.context = status, code, context


@dataclass(frozen=True)
class Viewer:
    """Who is looking: a logged-in principal (with the session's CSRF token) or nobody."""

    principal: Principal | None = None
    csrf: str = ""

    @property
    def role(self) -> str | None:
        return None if self.principal is None else self.principal.role


def ledger_of(request: Request) -> Ledger:
    ledger: Ledger = request.app.state.ledger
    return ledger


def language(request: Request) -> str:
    lang = request.cookies.get(LANG_COOKIE, "vi")
    return lang if lang in LANGUAGES else "vi"


def viewer(request: Request) -> Viewer:
    session = request.cookies.get(SESSION_COOKIE)
    if not session:
        return Viewer()
    found = ledger_of(request).principals.session(session)
    if found is None:
        return Viewer()
    request.state.principal = found[0].id
    return Viewer(*found)


def need(request: Request, *roles: str) -> Viewer:
    """The viewer, who must be logged in with one of `roles`: else the login page (nobody
    logged in) or a 403 page."""
    who = viewer(request)
    if who.principal is None:
        raise PageError(401, "login_required", next=request.url.path)
    if who.role not in roles:
        raise PageError(403, "forbidden", role=who.role, allowed=sorted(roles))
    return who


async def form(request: Request, who: Viewer) -> dict[str, str]:
    """The posted form (application/x-www-form-urlencoded), once its CSRF token is the
    session's: a form posted from anywhere else is refused."""
    values = await read_form(request)
    if not who.csrf or not secrets.compare_digest(values.get("csrf", ""), who.csrf):
        raise PageError(403, "csrf_invalid")
    return values


async def read_form(request: Request) -> dict[str, str]:
    if request.headers.get("content-type", "").split(";")[0].strip() != \
            "application/x-www-form-urlencoded":
        raise PageError(415, "form_expected")
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise PageError(413, "form_too_large")
    try:
        parsed = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False,
                          max_num_fields=100)
    except (UnicodeDecodeError, ValueError):
        raise PageError(400, "form_malformed") from None
    return {k: v[0] for k, v in parsed.items()}


def page(request: Request, template: str, *, status_code: int = 200, who: Viewer | None = None,
         **context: Any) -> HTMLResponse:
    lang = language(request)
    who = who if who is not None else viewer(request)
    body = _templates.get_template(template).render(
        t=translator(lang), lang=lang, languages=LANGUAGES, viewer=who, path=request.url.path,
        here=quote(str(request.url.path) + ("?" + request.url.query if request.url.query
                                             else ""), safe="/"),
        **context)
    return HTMLResponse(body, status_code=status_code)


def refusal(request: Request, exc: PageError) -> HTMLResponse | RedirectResponse:
    if exc.code == "login_required":
        return RedirectResponse(f"/login?next={quote(exc.context['next'], safe='/')}", 303)
    words = "refused." + exc.code
    return page(request, "refused.html", status_code=exc.status, code=exc.code,
                words=words if words in MESSAGES else "refused.rejected", detail=exc.context)


def safe_next(value: str | None, default: str = "/") -> str:
    """A place on this site to go back to: a path, never another origin (browsers drop tabs
    and newlines from a URL, so "/", a tab, "/host" would be "//host")."""
    if (not value or not value.startswith("/") or "\\" in value
            or any(c.isspace() or not c.isprintable() for c in value)
            or value.startswith("//")):
        return default
    return value


def set_cookie(request: Request, response: Any, name: str, value: str, *,
               max_age: int) -> None:
    response.set_cookie(name, value, max_age=max_age, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https", path="/")
