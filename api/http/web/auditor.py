"""The auditor's dashboard: the log's growth and checkpoint rate, anchoring per TSA, evidence
records due for renewal, each witness's last cosigned size and lag, and a full audit run live,
its progress streamed to the page and its report at the end."""

from __future__ import annotations

import asyncio
import json
import threading
from collections import Counter
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, StreamingResponse

from api.http.web.render import ledger_of, need, page
from ledger.access.policy import READ_ALL

router = APIRouter(include_in_schema=False)
AUDITORS = tuple(READ_ALL)
POINTS = 500  # checkpoints drawn at most (evenly thinned)


@router.get("/audit", response_class=HTMLResponse)
def dashboard(request: Request) -> HTMLResponse:
    who = need(request, *AUDITORS)
    ledger = ledger_of(request)
    status = ledger.log.status()
    with ledger.store.transaction() as tx:
        checkpoints = [(size, cut_at) for size, _, _, cut_at in tx.checkpoints()]
        tsas = tx.tokens_per_tsa()
    step = max(1, len(checkpoints) // POINTS)
    drawn = checkpoints[::step]
    if drawn and drawn[-1] != checkpoints[-1]:
        drawn.append(checkpoints[-1])
    hours = Counter(_time(c).replace(minute=0, second=0, microsecond=0) for _, c in checkpoints)
    growth = {"times": [_time(c).timestamp() for _, c in drawn],
              "sizes": [s for s, _ in drawn],
              "hours": [h.timestamp() for h in sorted(hours)],
              "rate": [hours[h] for h in sorted(hours)]}
    return page(request, "audit.html", who=who, status=status, tsas=tsas,
                growth=json.dumps(growth), recent=checkpoints[-10:][::-1],
                rates=sorted(hours.items())[-24:][::-1])


@router.get("/audit/run")
async def run(request: Request) -> StreamingResponse:
    """A full audit (`stele audit`), streamed as JSON lines: `{"done", "total"}` as leaves are
    re-proved, then `{"report"}`."""
    need(request, *AUDITORS)
    ledger = ledger_of(request)
    total = ledger.log.size()
    lines: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
    loop = asyncio.get_running_loop()
    seen = [0]

    def progress(n: int) -> None:
        seen[0] += n
        loop.call_soon_threadsafe(lines.put_nowait, {"done": seen[0], "total": total})

    def work() -> None:
        try:
            report = ledger.log.audit(progress=progress)
            line: dict[str, Any] = {"report": report.as_json()}
        except Exception as exc:  # the page says so; the log line has the traceback
            line = {"error": type(exc).__name__}
        loop.call_soon_threadsafe(lines.put_nowait, line)
        loop.call_soon_threadsafe(lines.put_nowait, None)

    threading.Thread(target=work, name="web-audit", daemon=True).start()

    async def stream() -> AsyncIterator[bytes]:
        yield (json.dumps({"done": 0, "total": total}) + "\n").encode()
        while (line := await lines.get()) is not None:
            yield (json.dumps(line, default=str) + "\n").encode()

    return StreamingResponse(stream(), media_type="application/x-ndjson",
                             headers={"Cache-Control": "no-store"})


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
