"""The shared catalogs' own rules (domain/catalog.py): entries are normalised once and for all,
snapshots round-trip, versions only move forward, and a record is judged by the version and
the issue date."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.catalog import (
    Catalog,
    CatalogCopy,
    CatalogSet,
    Version,
    changes,
    check_entries,
    parse_snapshot,
    snapshot_bytes,
)
from domain.envelope import Actor
from domain.errors import DomainError
from verifiers.digest import digest_of

AT = datetime(2026, 12, 8, tzinfo=UTC)
MANAGER = Actor("manager", "catalog_manager", "000.00.00.H00")

codes = st.from_regex(r"[A-Z]{1,3}[0-9]{0,3}", fullmatch=True)
names = st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zs", "Zl", "Zp")),
                min_size=1, max_size=30)
days = st.dates().map(lambda d: d.isoformat())
doc_types = st.lists(st.fixed_dictionaries(
    {"code": codes, "name": names},
    optional={"abbreviation": st.one_of(st.none(), st.just(""), codes), "valid_from": days}),
    min_size=1, max_size=20, unique_by=lambda e: e["code"])


def code(call: Any) -> str:
    with pytest.raises(DomainError) as caught:
        call()
    return caught.value.code


@given(doc_types)
def test_entries_normalise_once_and_snapshots_round_trip(entries: list[dict[str, Any]]) -> None:
    checked = check_entries("doc_types", entries)
    assert check_entries("doc_types", checked) == checked
    assert [e["code"] for e in checked] == sorted(e["code"] for e in entries)
    assert all(set(e) == {"code", "name", "abbreviation", "valid_from", "valid_to"}
               for e in checked)
    data = snapshot_bytes("doc_types", 7, checked)
    assert parse_snapshot(data) == ("doc_types", 7, checked)
    assert changes(checked, checked) == {k: {"count": 0, "codes": []}
                                         for k in ("added", "removed", "changed")}


def test_entries_are_refused_with_a_reason() -> None:
    good = {"code": "01", "name": "Công văn"}
    for entries in ([], [good, good], [{**good, "colour": "red"}], ["01"],
                    [{**good, "valid_from": "2025-03-01", "valid_to": "2025-03-01"}],
                    [{**good, "code": "a/b"}], [{**good, "name": ""}]):
        assert code(lambda entries=entries: check_entries("doc_types", entries)) == \
            "invalid_input"
    assert code(lambda: check_entries("colours", [good])) == "invalid_input"
    assert code(lambda: check_entries("retention", [{
        "code": "TH.1", "name": "x", "retention": 15, "source": "y"}])) == "invalid_input"
    # a snapshot that is not canonical, or not normalised, is not a snapshot
    assert code(lambda: parse_snapshot(b'{"catalog": "doc_types"}')) == "invalid_input"
    raw = snapshot_bytes("doc_types", 1, [good])  # `good` lacks the null fields
    assert code(lambda: parse_snapshot(raw)) == "invalid_input"


def test_versions_only_move_forward() -> None:
    first = check_entries("doc_types", [{"code": "01", "name": "Công văn"}])
    catalog = Catalog.publish_first(actor=MANAGER, at=AT, name="doc_types", entries=first)
    assert code(lambda: catalog.publish(actor=MANAGER, at=AT, entries=first,
                                        previous=first)) == "catalog_unchanged"
    clerk = Actor("clerk", "agency", "000.00.00.G04")
    assert code(lambda: Catalog.publish_first(actor=clerk, at=AT, name="doc_types",
                                              entries=first)) == "catalog_manager_only"
    synced = {"catalog": "doc_types", "digest": digest_of(b"x"), "leaf": 3,
              "centre": {"origin": "c", "size": 4, "root": "AA=="}, "index": {}}
    copy = CatalogCopy.first(actor=clerk, at=AT, catalog_version=2, **synced)
    assert code(lambda: copy.sync(actor=clerk, at=AT, catalog_version=2, **synced)) == \
        "catalog_rollback"
    copy.sync(actor=clerk, at=AT, catalog_version=5, **synced)
    assert copy.catalog_version == 5


def _set(**catalogs: list[dict[str, Any]]) -> CatalogSet:
    return CatalogSet({name: Version(name, 3, "", tuple(check_entries(name, entries)))
                       for name, entries in catalogs.items()})


def test_a_record_is_judged_on_its_issue_date() -> None:
    held = _set(agencies=[
        {"code": "000.00.00.G03", "name": "Bộ Kế hoạch và Đầu tư", "valid_to": "2025-03-01",
         "successor": "000.00.00.G04"},
        {"code": "000.00.00.G04", "name": "Bộ Tài chính"},
        {"code": "000.00.00.G11", "name": "Bộ Nông nghiệp và Môi trường",
         "valid_from": "2025-03-01"}])
    meta = {"issuer": "000.00.00.G03", "issued": "2025-02-28", "doc_type": "x", "access": "open"}
    held.check_record(meta, 10, "S")
    assert held.used() == {"agencies": 3}
    with pytest.raises(DomainError) as caught:
        held.check_record({**meta, "issued": "2025-03-01"}, 10, "S")
    assert caught.value.code == "catalog_code_expired"
    assert caught.value.evidence["successor"] == "000.00.00.G04"
    assert code(lambda: held.check_record({**meta, "issuer": "000.00.00.G11"}, 10, "S")) == \
        "catalog_code_not_yet_valid"
    assert code(lambda: held.check_record({**meta, "issuer": "000.00.00.G99"}, 10, "S")) == \
        "catalog_code_unknown"
    schedules = _set(retention=[{"code": "TH.04", "name": "Báo cáo quý", "retention": "10",
                                 "source": "Thông tư 10/2022/TT-BNV"}])
    schedules.check_record(meta, 10, "TH.04")
    assert code(lambda: schedules.check_record(meta, "permanent", "TH.04")) == \
        "catalog_retention_mismatch"
