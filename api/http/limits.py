"""What a request may make the server do, checked before any route runs.

- `BoundedBody`: a request body is bounded by the bytes actually received, not by what
  Content-Length says: MAX_JSON_BYTES for every route but the streamed uploads, which have their
  own limits (`Settings.max_content_bytes` for a document, `max_package_bytes` for a transfer
  package). A JSON body is read up to its limit (413 `too_large` as
  soon as it passes it, without reading the rest), then parsed strictly (`parse_json`: 422
  `invalid_json`) and handed on to the route.
- `PublicRateLimit`: callers without a valid token get, per client address, a token bucket on
  the public operations (health checks aside): 429 `rate_limited` with `Retry-After` when it is
  empty. The buckets are in this process's memory: each server process keeps its own.

Both are pure ASGI middleware: they wrap `receive`, so nothing reads a body behind their back.
"""

from __future__ import annotations

import email.message
import json
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.http.deps import bearer_token
from api.http.problems import ApiError, field_of, problem
from ledger.access.policy import PUBLIC
from ledger.config import RateLimit

MAX_JSON_BYTES = 4 * 1024 * 1024  # a batch of 1,000 actions fits
MAX_JSON_DEPTH = 32  # nested objects and arrays; an action's body needs fewer than 10
# Routes that read their body as a stream, under their own limit: a document
# (Settings.max_content_bytes), a transfer package (Settings.max_package_bytes).
STREAMED = {("POST", "/v1/content"): "content", ("POST", "/v1/transfers/incoming"): "package",
            ("POST", "/inspect/bundle"): "content"}  # an evidence bundle, with its document
# The public operations a caller without a token is rate-limited on: all but health checks.
# Not health checks, nor the witness's add-checkpoint (logs call it after every checkpoint).
RATE_LIMITED = frozenset(op for op in PUBLIC
                         if op[1] not in ("/healthz", "/readyz", "/add-checkpoint"))
# The pages that cost the node work for anyone (the inspector's look-up verifies bundles) or
# guess at a secret (logging in): limited like the API for callers without a live session.
PAGES_LIMITED = frozenset({("GET", "/inspect"), ("POST", "/inspect/bundle"),
                           ("POST", "/login")})
SESSION_COOKIE = "stele_session"


# -- strict JSON -------------------------------------------------------------------------------
class InvalidJsonError(ValueError):
    def __init__(self, message: str, at: tuple[Any, ...] = ()) -> None:
        super().__init__(message)
        self.message, self.at = message, at


def _no_constant(name: str) -> Any:
    raise InvalidJsonError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise InvalidJsonError(f"number out of range: {text[:40]}")
    return value


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) != len(pairs):
        raise InvalidJsonError("a name appears twice in one object")
    return found


def _check_text(text: str, at: tuple[Any, ...], what: str) -> None:
    if "\x00" in text:
        raise InvalidJsonError(f"{what} contains a NUL character (\\u0000)", at)
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidJsonError(f"{what} contains a lone surrogate (an unpaired \\ud800-"
                                   "\\udfff escape), which is no character", at) from None


def parse_json(raw: bytes) -> Any:
    """JSON as RFC 8259 means it, and nothing a later layer could choke on: UTF-8, no NaN or
    Infinity (nor numbers too large for a double), no name twice in an object, no lone
    surrogate and no NUL in any string or name, at most MAX_JSON_DEPTH levels deep. Raises
    InvalidJsonError, whose message never repeats the offending text."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidJsonError(f"the body is not UTF-8 (byte {exc.start})") from None
    try:
        value = json.loads(text, parse_constant=_no_constant, parse_float=_finite,
                           object_pairs_hook=_object)
    except RecursionError:
        raise InvalidJsonError(f"nested deeper than {MAX_JSON_DEPTH} levels") from None
    except json.JSONDecodeError as exc:
        raise InvalidJsonError(f"not JSON: {exc.msg} (line {exc.lineno}, column "
                               f"{exc.colno})") from None
    except InvalidJsonError:
        raise
    except ValueError:  # an integer with more digits than Python converts
        raise InvalidJsonError("a number has too many digits") from None
    stack: list[tuple[Any, tuple[Any, ...]]] = [(value, ())]
    while stack:
        item, at = stack.pop()
        if isinstance(item, str):
            _check_text(item, at, "a string")
        elif isinstance(item, dict | list):
            if len(at) >= MAX_JSON_DEPTH:
                raise InvalidJsonError(f"nested deeper than {MAX_JSON_DEPTH} levels", at[:8])
            if isinstance(item, dict):
                for name, member in item.items():
                    _check_text(name, at, "a name")
                    stack.append((member, (*at, name)))
            else:
                stack.extend((member, (*at, i)) for i, member in enumerate(item))
    return value


def is_json(content_type: str | None) -> bool:
    """Whether FastAPI parses a body of this Content-Type as JSON (its own test)."""
    if not content_type:
        return False
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json"))


# -- bounded bodies ----------------------------------------------------------------------------
def too_large(limit: int) -> ApiError:
    return ApiError("too_large", f"request body over {limit} bytes", limit=limit)


class BoundedBody:
    def __init__(self, app: ASGIApp, *, content_limit: int, package_limit: int,
                 json_limit: int = MAX_JSON_BYTES) -> None:
        self.app, self.json_limit = app, json_limit
        self.limits = {"content": content_limit, "package": package_limit}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        kind = STREAMED.get((scope["method"], scope["path"]))
        streamed = kind is not None
        limit = self.json_limit if kind is None else self.limits[kind]
        headers = Headers(scope=scope)
        declared = headers.get("content-length", "")
        if declared.isascii() and declared.isdigit() and int(declared) > limit:
            await _refuse_too_large(limit, scope, receive, send)
        elif streamed:
            await self.app(scope, _counted(receive, limit), _closing_on_413(send))
        else:
            # Only POST routes read JSON; a body sent with GET is ignored, as FastAPI does.
            parsed = scope["method"] not in ("GET", "HEAD") and is_json(
                headers.get("content-type"))
            await self._buffered(scope, receive, send, limit, parsed)

    async def _buffered(self, scope: Scope, receive: Receive, send: Send, limit: int,
                        json_body: bool) -> None:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                answer = problem(400, "bad_request", "the request body ended early")
                await answer(scope, receive, send)
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await _refuse_too_large(limit, scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if json_body and body:
            try:
                parse_json(body)
            except InvalidJsonError as exc:
                answer = problem(422, "invalid_json", f"invalid JSON: {exc.message}",
                                 errors=[{"field": field_of(exc.at), "message": exc.message}])
                await answer(scope, receive, send)
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()  # what follows the body: a disconnect
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


async def _refuse_too_large(limit: int, scope: Scope, receive: Receive, send: Send) -> None:
    # The rest of the body is never read: the connection is closed after the answer.
    error = too_large(limit)
    answer = problem(413, error.code, error.message, headers={"Connection": "close"},
                     evidence=error.evidence)
    await answer(scope, receive, send)


def _closing_on_413(send: Send) -> Send:
    """`send` that closes the connection after a 413: the rest of that body is never read."""

    async def closing(message: Message) -> None:
        if message["type"] == "http.response.start" and message["status"] == 413:
            message = {**message, "headers": [*message.get("headers", []),
                                              (b"connection", b"close")]}
        await send(message)

    return closing


def _counted(receive: Receive, limit: int) -> Receive:
    """`receive` that refuses (413, through the route's error handling) past `limit` bytes."""
    size = 0

    async def counted() -> Message:
        nonlocal size
        message = await receive()
        size += len(message.get("body", b""))
        if size > limit:
            raise too_large(limit)
        return message

    return counted


# -- rate limits -------------------------------------------------------------------------------
class TokenBuckets:
    """One token bucket per key (a client address): `limit.requests` tokens at most, refilled
    at `limit.per_second`. A bucket that has refilled is forgotten (the same as a new one), and
    at most `max_keys` are kept, so memory stays bounded whoever calls."""

    def __init__(self, limit: RateLimit, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = 100_000) -> None:
        self.limit, self.clock, self.max_keys = limit, clock, max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # (tokens, at)

    def _tokens(self, tokens: float, at: float, now: float) -> float:
        return min(float(self.limit.requests), tokens + (now - at) * self.limit.per_second)

    def take(self, key: str) -> float:
        """Take a token: 0.0 if there was one, else the seconds until there is."""
        now = self.clock()
        tokens, at = self._buckets.pop(key, (float(self.limit.requests), now))
        tokens = self._tokens(tokens, at, now)
        wait = 0.0
        if tokens >= 1:
            tokens -= 1
        else:
            wait = (1 - tokens) / self.limit.per_second
        self._buckets[key] = (tokens, now)  # the most recently used, last
        while self._buckets:
            tokens, at = next(iter(self._buckets.values()))
            if (len(self._buckets) <= self.max_keys
                    and self._tokens(tokens, at, now) < self.limit.requests):
                break
            self._buckets.popitem(last=False)
        return wait


class PublicRateLimit:
    def __init__(self, app: ASGIApp, *, buckets: TokenBuckets) -> None:
        self.app, self.buckets = app, buckets

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and await self._limited(scope):
            client = scope.get("client")
            wait = self.buckets.take(client[0] if client else "unknown")
            if wait > 0:
                seconds = max(1, math.ceil(wait))
                limit = self.buckets.limit
                answer = problem(
                    429, "rate_limited",
                    f"over {limit.requests} requests per {limit.seconds:g} s from your address "
                    f"without a token; retry in {seconds} s", headers={"Retry-After": str(seconds)})
                await answer(scope, receive, send)
                return
        await self.app(scope, receive, send)

    async def _limited(self, scope: Scope) -> bool:
        method = "GET" if scope["method"] == "HEAD" else scope["method"]
        principals = scope["app"].state.ledger.principals
        if (method, scope["path"]) in PAGES_LIMITED:
            session = cookie_parser(Headers(scope=scope).get("cookie", "")).get(SESSION_COOKIE)
            return session is None or await run_in_threadpool(principals.session,
                                                              session) is None
        if (method, scope["path"]) not in RATE_LIMITED:
            return False
        token = bearer_token(Headers(scope=scope))
        if token is None:
            return True
        return await run_in_threadpool(principals.authenticate, token) is None
