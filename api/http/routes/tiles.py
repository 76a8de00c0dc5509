"""The log's C2SP tlog-tiles, public: the tiles directory served as it is, with the caching the
spec asks for, and beside them the shared catalogs' publication (on the centre). A CDN or any
web server can serve the same directory instead."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.http.deps import LedgerDep
from api.http.problems import ApiError
from verifiers.catalog import INDEX
from verifiers.errors import VerificationError
from verifiers.tiles import CHECKPOINT, Tile

router = APIRouter(prefix="/v1/log/tiles", tags=["log"])

IMMUTABLE = "public, max-age=31536000, immutable"  # a full tile never changes
PARTIAL = "public, max-age=60"  # replaced by the full tile once the log grows
CHECKPOINT_CACHE = "no-store"
_SNAPSHOT = re.compile(r"catalogs/[a-z][a-z_]{0,39}/[1-9][0-9]{0,18}\.json")


@router.get("/{path:path}", summary="A tile, an entry bundle or the checkpoint (tlog-tiles)",
            response_class=Response,
            responses={200: {"content": {"application/octet-stream": {}, "text/plain": {}}}})
def tile(path: str, request: Request, ledger: LedgerDep) -> Response:
    if path in (CHECKPOINT, INDEX):  # the shared catalogs' index is replaced like it
        data = _read(ledger.settings.tiles_dir / path, path)
        return Response(data, media_type="text/plain; charset=utf-8",
                        headers={"Cache-Control": CHECKPOINT_CACHE})
    if _SNAPSHOT.fullmatch(path):  # a catalog version's snapshot: never changes
        return Response(_read(ledger.settings.tiles_dir / path, path),
                        media_type="application/json", headers={"Cache-Control": IMMUTABLE})
    try:
        parsed = Tile.from_path(path)
    except VerificationError:
        raise ApiError("tile_not_found", "not a tile path", path=path[:200]) from None
    data = _read(ledger.settings.tiles_dir / parsed.path, path)
    headers = {"Cache-Control": PARTIAL if parsed.is_partial else IMMUTABLE,
               "Vary": "Accept-Encoding"}
    if parsed.level < 0 and "gzip" in request.headers.get("accept-encoding", ""):
        data = gzip.compress(data, compresslevel=5, mtime=0)
        headers["Content-Encoding"] = "gzip"
    return Response(data, media_type="application/octet-stream", headers=headers)


def _read(file: Path, path: str) -> bytes:
    try:
        return file.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        raise ApiError("tile_not_found", "no such tile in this log (yet)", path=path) from None
