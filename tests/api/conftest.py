"""An API client per backend, with one principal of each role."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.http.app import create_app
from ledger.config import Settings
from ledger.service import Ledger

AGENCY, OTHER_AGENCY, ARCHIVE = "000.00.00.G01", "000.00.00.G02", "000.00.00.H01"


@dataclass
class Api:
    client: TestClient
    ledger: Ledger
    tokens: dict[str, str]

    def headers(self, who: str | None, **extra: str) -> dict[str, str]:
        out = dict(extra)
        if who is not None:
            out["Authorization"] = f"Bearer {self.tokens[who]}"
        return out

    def post(self, path: str, who: str | None, body: Any = None, **headers: str) -> Any:
        return self.client.post(path, json=body, headers=self.headers(who, **headers))

    def get(self, path: str, who: str | None, **params: Any) -> Any:
        return self.client.get(path, params=params, headers=self.headers(who))

    def upload(self, who: str, data: bytes) -> str:
        answer = self.client.post("/v1/content", content=data, headers=self.headers(who))
        assert answer.status_code == 201, answer.text
        digest: str = answer.json()["digest"]
        return digest

    def create(self, who: str = "agency", number: int = 1, data: bytes | None = None,
               **meta: Any) -> str:
        body = data if data is not None else f"document {number}".encode()
        digest = self.upload(who, body)
        agency = {"agency": AGENCY, "other": OTHER_AGENCY, "archivist": ARCHIVE}[who]
        metadata = {"doc_type": "Công văn", "number": str(number), "notation": f"{number}/CV",
                    "issued": "2010-01-05", "issuer": agency, "subject": "Về việc thử",
                    "language": "vi", "pages": 1, "access": "open",
                    "reliability": "born_digital", **meta}
        answer = self.post("/v1/records", who, {
            "metadata": metadata, "retention": 10, "schedule": "S-1",
            "content": {"digest": digest, "size": len(body), "media_type": "text/plain"}})
        assert answer.status_code == 201, answer.text
        record: str = answer.json()["events"][0]["record"]
        return record


ROLES = {
    "admin": ("admin", "000.00.00.A00"),
    "agency": ("agency", AGENCY),
    "other": ("agency", OTHER_AGENCY),
    "archivist": ("archivist", ARCHIVE),
    "auditor": ("auditor", "000.00.00.K01"),
    "inspector": ("inspector", "000.00.00.T01"),
    "committee": ("committee", "000.00.00.B01"),
    "catalog_manager": ("catalog_manager", "000.00.00.H00"),
}


@contextmanager
def serving(settings: Settings) -> Iterator[Api]:
    """The app on `settings`, with a principal of each role (a second node, for transfers)."""
    app = create_app(settings, background=False)
    with TestClient(app) as client:
        ledger: Ledger = app.state.ledger
        tokens = {}
        for name, (role, agency) in ROLES.items():
            _, tokens[name] = ledger.principals.add(name=name, role=role, agency=agency)
        yield Api(client, ledger, tokens)


@pytest.fixture
def api(settings: Settings) -> Iterator[Api]:
    with serving(settings) as api:
        yield api
