"""Documents by digest: streamed upload (size-limited, digest checked on arrival), download."""

from __future__ import annotations

import hashlib
import os
import tempfile
from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import FileResponse

from api.http.deps import CurrentPrincipal, LedgerDep
from api.http.problems import ApiError
from domain.metadata import check_digest
from ledger.access.policy import UPLOAD, allow
from verifiers.digest import Digest

router = APIRouter(prefix="/v1/content", tags=["content"])


_BINARY = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}


@router.post("", status_code=201, summary="Upload a document; answers its digest",
             openapi_extra={"requestBody": {"required": True, "content": _BINARY}})
async def upload(
    request: Request, principal: CurrentPrincipal, ledger: LedgerDep,
    content_digest: Annotated[str | None, Header(
        alias="X-Content-Digest", description="sha-256:<hex>: refuse the upload if it differs")
    ] = None,
) -> dict[str, object]:
    allow(principal, UPLOAD, "upload content")
    if content_digest is not None:
        check_digest(content_digest, "X-Content-Digest")
    hasher, size = hashlib.sha256(), 0  # the size limit holds on bytes read (api/http/limits)
    fd, tmp = tempfile.mkstemp(dir=ledger.content.root, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as f:
            async for chunk in request.stream():
                size += len(chunk)
                hasher.update(chunk)
                f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        digest = Digest(hasher.digest()).format()
        if content_digest is not None and content_digest != digest:
            raise ApiError("digest_mismatch", "the bytes received have another digest",
                           expected=content_digest, found=digest)
        ledger.content.adopt(tmp, digest, owner=principal.agency)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return {"digest": digest, "size": size}


@router.get("/{digest}", summary="Download a document by digest", response_class=FileResponse,
            responses={200: {"content": _BINARY}})
def download(digest: str, principal: CurrentPrincipal, ledger: LedgerDep) -> FileResponse:
    check_digest(digest, "digest")
    path = ledger.records.content_for(principal, digest)
    return FileResponse(path, media_type="application/octet-stream")
