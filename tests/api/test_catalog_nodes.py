"""Shared catalogs across real `stele serve` processes on loopback: a centre and two consumers.
The centre's catalog manager publishes the starting set through the API; each consumer's worker
syncs it from the centre's tiles URL, proves it and logs it; a record on a consumer is checked
against it and names the versions; the centre changes a catalog, the consumers sync again, and
each record's event proves which version it used. The search page is read in Chromium."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ledger.bench.http import free_port
from ledger.catalog.files import seed
from ledger.config import Settings, parse_database_url
from ledger.service import Ledger
from tests.browser import chromium
from tests.waiting import until

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow
FINANCE = "000.00.00.G04"


@dataclass
class Serve:
    name: str
    root: Path
    extra: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    tokens: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def data_dir(self) -> Path:
        return self.root / self.name

    def env(self) -> dict[str, str]:
        return dict(os.environ, STELE_DATA_DIR=str(self.data_dir),
                    STELE_DATABASE_URL=f"sqlite:///{self.root / (self.name + '.sqlite3')}",
                    STELE_LOG_ORIGIN=f"{self.name}.test/log", STELE_ENV="dev",
                    STELE_RATE_LIMIT="off", STELE_CHECKPOINT_INTERVAL="0.2",
                    PYTHONPATH=str(ROOT), **self.extra)

    def cli(self, *args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "api.cli", *args], env=self.env(),
                              cwd=ROOT, capture_output=True, text=True, timeout=120,
                              check=False)
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    def settings(self) -> Settings:
        return Settings(data_dir=self.data_dir, origin=f"{self.name}.test/log",
                        database=parse_database_url(self.env()["STELE_DATABASE_URL"],
                                                    self.data_dir))

    def principal(self, role: str, agency: str) -> None:
        with Ledger(self.settings()) as ledger:
            _, self.tokens[role] = ledger.principals.add(name=role, role=role, agency=agency)

    def start(self) -> None:
        log = open(self.root / f"{self.name}.log", "ab")  # noqa: SIM115 (the child keeps it)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "serve", "--port", str(self.port)],
            env=self.env(), cwd=ROOT, stdout=log, stderr=log, start_new_session=True)
        log.close()
        until(lambda: self.get("/readyz")[0] == 200, f"{self.name} ready")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=60)

    def request(self, method: str, path: str, body: Any = None, *, role: str | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, Any, dict[str, str]]:
        sent = dict(headers or {})
        if role is not None:
            sent["Authorization"] = f"Bearer {self.tokens[role]}"
        data = None if body is None else json.dumps(body).encode("utf-8")
        if data is not None:
            sent["Content-Type"] = "application/json"
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers=sent)
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                raw, status, got = answer.read(), answer.status, dict(answer.headers)
        except urllib.error.HTTPError as exc:
            raw, status, got = exc.read(), exc.code, dict(exc.headers)
        except (urllib.error.URLError, OSError):
            return 0, None, {}
        try:
            return status, json.loads(raw), got
        except ValueError:
            return status, raw.decode("utf-8", "replace"), got

    def get(self, path: str, **kw: Any) -> tuple[int, Any]:
        status, body, _ = self.request("GET", path, **kw)
        return status, body


def create(node: Serve, number: int, doc_type: str = "Quyết định") -> dict[str, Any]:
    data = f"document {number}".encode()
    request = urllib.request.Request(node.url + "/v1/content", data=data, method="POST",
                                     headers={"Authorization": f"Bearer {node.tokens['agency']}",
                                              "Content-Type": "application/octet-stream"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        uploaded = json.loads(answer.read())
    status, answer, _ = node.request("POST", "/v1/records", {
        "metadata": {"doc_type": doc_type, "number": str(number),
                     "notation": f"{number}/QĐ-BTC", "issued": "2026-01-05", "issuer": FINANCE,
                     "subject": "Catalog test", "language": "vi", "pages": 1,
                     "access": "open", "reliability": "born_digital"},
        "retention": 10, "schedule": "TH.04",
        "content": {"digest": uploaded["digest"], "size": uploaded["size"],
                    "media_type": "text/plain"}}, role="agency")
    return {"status": status, "answer": answer}


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[dict[str, Serve]]:
    centre = Serve("centre", tmp_path)
    centre.principal("catalog_manager", "000.00.00.H00")
    trust = tmp_path / "catalog-trust.txt"
    trust.write_text(centre.cli("catalog", "trust"))
    consumers = {name: Serve(name, tmp_path, extra={
        "STELE_CATALOG_FROM": f"{centre.url}/v1/log/tiles", "STELE_CATALOG_TRUST": str(trust),
        "STELE_CATALOG_SYNC_SECONDS": "0.5"}) for name in ("north", "south")}
    for node in consumers.values():
        node.principal("agency", FINANCE)
    every = {"centre": centre, **consumers}
    try:
        centre.start()
        yield every
    finally:
        for node in every.values():
            node.stop()


def held(node: Serve) -> dict[str, int]:
    status, body = node.get("/v1/catalogs")
    return {c["catalog"]: c["version"] for c in body["items"]} if status == 200 else {}


def test_centre_and_consumers_sync_and_prove_the_versions_used(nodes: dict[str, Serve]
                                                                ) -> None:
    centre, north, south = nodes["centre"], nodes["north"], nodes["south"]
    for name, entries in seed().items():
        status, answer, _ = centre.request("POST", f"/v1/catalogs/{name}",
                                           {"entries": entries}, role="catalog_manager")
        assert status == 201, answer
    until(lambda: centre.get("/v1/log/tiles/catalogs/index")[0] == 200, "the index")
    north.start()
    south.start()
    first = {"access_levels": 1, "agencies": 1, "doc_types": 1, "fonds": 1, "retention": 1}
    for node in (north, south):
        until(lambda n=node: held(n) == first, f"{node.name} synced")
    made = create(north, 1)
    assert made["status"] == 201, made
    event = made["answer"]["events"][0]["event"]
    assert event["data"]["used_catalogs"]["doc_types"] == 1
    refused = create(north, 2, doc_type="Thư điện tử")
    assert refused["status"] == 422 and refused["answer"]["code"] == "catalog_code_unknown"
    assert refused["answer"]["evidence"]["version"] == 1  # the error names the version

    # the centre adds a document type; both consumers take version 2
    entries = [*seed()["doc_types"], {"code": "30", "name": "Thư điện tử công vụ"}]
    status, answer, _ = centre.request("POST", "/v1/catalogs/doc_types", {"entries": entries},
                                       role="catalog_manager")
    assert status == 201, answer
    for node in (north, south):
        until(lambda n=node: held(n).get("doc_types") == 2, f"{node.name} synced version 2")
    later = create(north, 3, doc_type="Thư điện tử công vụ")
    assert later["status"] == 201, later
    assert later["answer"]["events"][0]["event"]["data"]["used_catalogs"]["doc_types"] == 2

    # lookups: ETags, a code's history, the status the consumer rests on
    status, body, headers = north.request("GET", "/v1/catalogs/doc_types")
    assert status == 200 and body["version"] == 2
    assert north.request("GET", "/v1/catalogs/doc_types",
                         headers={"If-None-Match": headers["etag"]})[0] == 304
    status, body = north.get("/v1/catalogs/doc_types?version=1")
    assert status == 200 and len(body["entries"]) == 29
    status, body = north.get("/v1/catalogs/doc_types/30")
    assert [h["version"] for h in body["history"]] == [2]  # added in version 2
    status, ready = north.get("/readyz")
    assert status == 200 and ready["catalogs"]["stale"] is False
    status, log_status = north.get("/v1/log/status")
    assert log_status["catalogs"]["versions"]["doc_types"] == 2
    assert log_status["catalogs"]["index"]["origin"] == "centre.test/log"

    # the consumer's own log proves each version it took: catalog.synced events naming the
    # centre's checkpoint they were proven under
    north.stop()
    with Ledger(north.settings()) as ledger, ledger.store.transaction() as tx:
        leaves = [json.loads(row[3]) for row in tx.events_after(0, 1000)]
    synced = [e for e in leaves if e["type"] == "catalog.synced"]
    assert sorted((e["data"]["catalog"], e["data"]["catalog_version"]) for e in synced) == [
        ("access_levels", 1), ("agencies", 1), ("doc_types", 1), ("doc_types", 2),
        ("fonds", 1), ("retention", 1)]
    assert {e["data"]["centre"]["origin"] for e in synced} == {"centre.test/log"}


def test_the_search_page_in_chromium(nodes: dict[str, Serve]) -> None:
    from selenium.webdriver.common.by import By

    centre = nodes["centre"]
    for name in ("agencies", "doc_types"):
        status, answer, _ = centre.request("POST", f"/v1/catalogs/{name}",
                                           {"entries": seed()[name]}, role="catalog_manager")
        assert status == 201, answer
    chrome = chromium()
    try:
        chrome.get(f"{centre.url}/lang/en?next=/catalogs")
        assert chrome.title == "Shared catalogs · Stele"
        rows = chrome.find_elements(By.CSS_SELECTOR, "tbody tr")
        assert len(rows) == len(seed()["agencies"])
        box = chrome.find_element(By.NAME, "q")
        box.send_keys("tai chinh")  # without diacritics, as typed on any keyboard
        box.submit()
        until(lambda: "q=" in chrome.current_url, "the search")
        rows = chrome.find_elements(By.CSS_SELECTOR, "tbody tr")
        assert [r.find_element(By.TAG_NAME, "td").text for r in rows] == [FINANCE]
        # a merged agency: its history, and the successor it names
        chrome.get(f"{centre.url}/catalogs?catalog=agencies&code=000.00.00.G03")
        assert "000.00.00.G04" in chrome.find_element(By.TAG_NAME, "tbody").text
        chrome.get(f"{centre.url}/catalogs?catalog=doc_types&q=Quy%20%C4%91")  # "Quy đ"
        names = {r.find_elements(By.TAG_NAME, "td")[1].text
                 for r in chrome.find_elements(By.CSS_SELECTOR, "tbody tr")}
        assert names == {"Quy định"}
    finally:
        chrome.quit()
