"""RFC 3161 client: ask a TSA for a token over HTTP (RFC 3161 §3.4), with a nonce and certReq,
a timeout and retries with backoff, and check the answer before anyone stores it."""

from __future__ import annotations

import secrets
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Protocol

from asn1crypto import cms, core, tsp

from ledger.errors import LedgerError

CONTENT_TYPE = "application/timestamp-query"


class TsaRequestError(LedgerError):
    """A TSA did not give a usable token (down, refused, or answered something else)."""

    code = "timestamp_failed"


@dataclass(frozen=True)
class Token:
    der: bytes  # the TimeStampToken ContentInfo, as the TSA sent it
    url: str
    nonce: int


class Tsa(Protocol):
    """Somewhere to send a TimeStampReq: a TSA over HTTP, or the built-in one in-process."""

    @property
    def url(self) -> str: ...

    def exchange(self, query: bytes, timeout: float) -> bytes: ...


@dataclass(frozen=True)
class HttpTsa:
    url: str

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise TsaRequestError(f"TSA URL must be http(s): {self.url!r}", url=self.url)

    def exchange(self, query: bytes, timeout: float) -> bytes:
        request = urllib.request.Request(  # noqa: S310 - http(s) only, checked above
            self.url, data=query, method="POST", headers={"Content-Type": CONTENT_TYPE})
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310
            return bytes(answer.read(1024 * 1024))


def request_token(tsa: Tsa | str, digest: bytes, *, hash_alg: str = "sha256",
                  timeout: float = 10.0, attempts: int = 3, backoff: float = 0.5) -> Token:
    """A token over `digest` from `tsa`; its status, imprint and nonce checked."""
    target: Tsa = HttpTsa(tsa) if isinstance(tsa, str) else tsa
    nonce = secrets.randbits(63)
    query = tsp.TimeStampReq({
        "version": "v1",
        "message_imprint": {"hash_algorithm": {"algorithm": hash_alg}, "hashed_message": digest},
        "nonce": nonce,
        "cert_req": True,  # the TSA's certificate travels in the token (ESSCertID binds it)
    }).dump()
    last: Exception | None = None
    for attempt in range(attempts):
        if attempt:
            time.sleep(backoff * 2 ** (attempt - 1))
        try:
            body = target.exchange(query, timeout)
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            last = exc  # transient: retry
            continue
        return Token(der=_token_of(body, digest, hash_alg, nonce), url=target.url, nonce=nonce)
    raise TsaRequestError(f"TSA {target.url} unreachable after {attempts} attempts: {last}",
                         url=target.url)


def parse_response(body: bytes) -> tuple[tsp.PKIStatusInfo, cms.ContentInfo | None]:
    """(status, token or None) of a TimeStampResp. Read by hand: asn1crypto's TimeStampResp
    insists on the token, which RFC 3161 §2.4.2 leaves out of every refusal."""
    outer = core.Sequence.load(body)
    if len(outer) not in (1, 2):
        raise ValueError("TimeStampResp has one or two members")
    status = tsp.PKIStatusInfo.load(outer[0].dump())
    token = cms.ContentInfo.load(outer[1].dump()) if len(outer) == 2 else None
    return status, token


def _token_of(body: bytes, digest: bytes, hash_alg: str, nonce: int) -> bytes:
    try:
        status, token = parse_response(body)
        if status["status"].native not in ("granted", "granted_with_mods") or token is None:
            text = status["status_string"].native
            raise TsaRequestError(f"TSA refused: {status['status'].native} {text or ''}".strip(),
                                 status=status["status"].native,
                                 fail_info=sorted(status["fail_info"].native or ()))
        info = token["content"]["encap_content_info"]["content"].parsed
        imprint = info["message_imprint"]
        if (imprint["hash_algorithm"]["algorithm"].native != hash_alg
                or imprint["hashed_message"].native != digest):
            raise TsaRequestError("the token covers another digest")
        if info["nonce"].native != nonce:
            raise TsaRequestError("the token does not echo our nonce (a replayed answer?)")
        return bytes(token.dump())
    except (ValueError, TypeError, KeyError, AttributeError):
        raise TsaRequestError("the TSA's answer is not a TimeStampResp") from None
