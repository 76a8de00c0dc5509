"""The Dossier aggregate (hồ sơ) and filing, against DOMAIN.md: a record is filed only into an
open dossier of its custodian; a closed dossier's membership is frozen, sealed by a Merkle root.

The root is recomputed here from its definition (leaf = RFC 8785 JSON {"digest", "record"},
RFC 9162 tree) with `rfc8785` and `verifiers.merkle`, not with `domain.dossier`'s helpers.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid5

import pytest
import rfc8785

from domain.dossier import Dossier, dossier_id, members_root
from domain.errors import DomainError
from verifiers.merkle import leaf_hash, root_of

if TYPE_CHECKING:
    from tests.domain.conftest import Builder

DOSSIER_NAMESPACE = UUID("0c7d4e9a-31b2-5f6e-8a4d-2e9b7c1f5a63")  # domain/dossier.py, by value


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def expected_root(members: list[tuple[str, str]]) -> str:
    """RFC 9162 root over leaves canonical({"digest": d, "record": r}), in filing order."""
    leaves = [rfc8785.dumps({"digest": d, "record": r}) for r, d in members]
    return b64(root_of([leaf_hash(leaf) for leaf in leaves]))


def naive_root(leaves: list[bytes]) -> bytes:
    """RFC 9162 §2.1.1 written out with hashlib alone, as an outsider would."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + naive_root(leaves[:k]) + naive_root(leaves[k:])).digest()


# == open ========================================================================================


def test_open_creates_a_dossier_in_the_openers_custody(build: Builder) -> None:
    dossier = build.dossier()
    assert dossier.version == 1
    assert [e.TYPE for e in build.events(dossier)] == ["dossier.opened"]
    assert dossier.custodian == build.AGENCY
    assert dossier.code == build.DOSSIER_CODE
    assert dossier.members == []
    assert dossier.closed is None
    envelope = json.loads(build.events(dossier)[0].canonical())
    assert envelope["prev"] is None
    assert envelope["data"] == {
        "code": build.DOSSIER_CODE, "title": "Hồ sơ kế hoạch lưu trữ năm 2020",
        "retention": 10, "custodian": build.AGENCY,
    }


def test_dossier_id_is_uuid5_of_its_code(build: Builder) -> None:
    dossier = build.dossier()
    assert dossier.id == uuid5(DOSSIER_NAMESPACE, build.DOSSIER_CODE)
    assert dossier.id == dossier_id(build.DOSSIER_CODE)
    assert build.dossier(title="another title").id == dossier.id
    assert build.dossier(code=f"{build.AGENCY}.2020.HS-02").id != dossier.id


@pytest.mark.parametrize(
    "code",
    ["HS-01", "000.00.12.H29.20.HS-01", "000.00.12.H29.2020.", "000.00.12.H29.2020.HS 01",
     "000.00.12.h29.2020.HS-01", "000.00.12.H29.2020." + "X" * 51, None],
)
def test_open_refuses_a_malformed_code(build: Builder, code: Any) -> None:
    with pytest.raises(DomainError) as info:
        build.dossier(code=code)
    assert info.value.code == "invalid_input"


@pytest.mark.parametrize(("field", "value"), [("title", " "), ("retention", 15),
                                              ("retention", "forever")])
def test_open_refuses_malformed_fields(build: Builder, field: str, value: Any) -> None:
    with pytest.raises(DomainError) as info:
        build.dossier(**{field: value})
    assert info.value.code == "invalid_input"


def test_an_agency_opens_dossiers_only_under_its_own_code(build: Builder) -> None:
    with pytest.raises(DomainError) as info:
        build.dossier(actor=build.OUTSIDER)
    assert info.value.code == "not_custodian"


# == file ========================================================================================


def test_filing_adds_the_member_to_the_dossier_and_the_dossier_to_the_record(
    build: Builder
) -> None:
    record, dossier = build.filed()
    assert build.last_type(record) == "record.filed"
    assert build.last_type(dossier) == "dossier.member_added"
    assert record.dossier == {"id": str(dossier.id), "code": build.DOSSIER_CODE}
    assert dossier.members == [{"record": str(record.id), "digest": build.CONTENT_DIGEST}]
    filed = json.loads(build.events(record)[-1].canonical())
    assert filed["data"] == {"dossier": str(dossier.id), "dossier_code": build.DOSSIER_CODE}
    added = json.loads(build.events(dossier)[-1].canonical())
    assert added["data"] == {"record": str(record.id), "digest": build.CONTENT_DIGEST}
    assert added["record"] == str(dossier.id)  # the envelope's `record` is the aggregate id
    assert added["version"] == 2


def test_a_record_belongs_to_one_dossier(build: Builder) -> None:
    record, dossier = build.filed()
    other = build.dossier(code=f"{build.AGENCY}.2020.HS-02")
    for target in (dossier, other):
        with build.refused("already_filed", record, target):
            record.file(actor=build.CLERK, at=build.T_CLOSE, dossier=target)


def test_only_the_records_custodian_files_it(build: Builder) -> None:
    record = build.issued()
    dossier = build.dossier(code=f"{build.OTHER}.2020.HS-01", actor=build.OUTSIDER)
    with build.refused("not_custodian", record, dossier):
        record.file(actor=build.OUTSIDER, at=build.T_FILE, dossier=dossier)


def test_a_record_is_filed_only_into_a_dossier_of_its_custodian(build: Builder) -> None:
    record = build.issued()
    dossier = build.dossier(code=f"{build.OTHER}.2020.HS-01", actor=build.OUTSIDER)
    with build.refused("not_custodian", record, dossier):
        record.file(actor=build.CLERK, at=build.T_FILE, dossier=dossier)


def test_after_transfer_the_new_custodian_cannot_file_into_the_senders_dossier(
    build: Builder
) -> None:
    record = build.transferred()
    dossier = build.dossier()
    with build.refused("not_custodian", record, dossier):
        record.file(actor=build.ARCHIVIST, at=build.T_APPRAISE, dossier=dossier)
    with build.refused("not_custodian", record, dossier):
        record.file(actor=build.CLERK, at=build.T_APPRAISE, dossier=dossier)


def test_a_closed_dossiers_membership_is_frozen(build: Builder) -> None:
    _, dossier = build.filed()
    dossier.close(actor=build.CLERK, at=build.T_CLOSE)
    late = build.issued(number="13")
    with build.refused("dossier_closed", late, dossier):
        late.file(actor=build.CLERK, at=build.T_AFTER, dossier=dossier)
    with build.refused("dossier_closed", dossier):
        dossier.add_member(actor=build.CLERK, at=build.T_AFTER, record=late.id,
                           digest=build.CONTENT_DIGEST)
    assert late.dossier is None


def test_only_the_dossiers_custodian_adds_members(build: Builder) -> None:
    dossier = build.dossier()
    with build.refused("not_custodian", dossier):
        dossier.add_member(actor=build.OUTSIDER, at=build.T_FILE, record=build.record().id,
                           digest=build.CONTENT_DIGEST)


def test_add_member_refuses_a_malformed_digest(build: Builder) -> None:
    dossier = build.dossier()
    with build.refused("invalid_input", dossier):
        dossier.add_member(actor=build.CLERK, at=build.T_FILE, record=build.record().id,
                           digest="md5:abc")


def test_a_destroyed_record_is_not_filed(build: Builder) -> None:
    record = build.destroyed()
    dossier = build.dossier(at=build.T_AFTER)
    with build.refused("record_destroyed", record, dossier):
        record.file(actor=build.CLERK, at=build.T_AFTER, dossier=dossier)


# == close =======================================================================================


@pytest.mark.parametrize("count", [1, 2, 3, 5, 8])
def test_closing_seals_a_merkle_root_over_the_members_in_filing_order(
    build: Builder, count: int
) -> None:
    dossier = build.dossier()
    members: list[tuple[str, str]] = []
    for n in range(count):
        content = f"document {n}".encode()
        record = build.record(
            number=str(100 + n),
            content_={"digest": build.digest(content), "size": len(content),
                      "media_type": "application/pdf"},
        )
        record.file(actor=build.CLERK, at=build.T_FILE, dossier=dossier)
        members.append((str(record.id), build.digest(content)))
    dossier.close(actor=build.CLERK, at=build.T_CLOSE)

    closed = json.loads(build.events(dossier)[-1].canonical())
    assert closed["type"] == "dossier.closed"
    assert closed["data"] == {"members": count, "root": expected_root(members)}
    assert dossier.closed == closed["data"]
    # The same root, from hashlib alone.
    leaves = [rfc8785.dumps({"digest": d, "record": r}) for r, d in members]
    assert closed["data"]["root"] == b64(naive_root(leaves))
    # The domain's own helper agrees.
    assert members_root(dossier.members) == closed["data"]["root"]


def test_the_root_depends_on_filing_order(build: Builder) -> None:
    members = [(str(build.record(number=str(n)).id), build.digest(bytes([n]))) for n in range(3)]
    assert expected_root(members) != expected_root(list(reversed(members)))


def test_closing_an_empty_dossier_seals_the_empty_root(build: Builder) -> None:
    dossier = build.dossier()
    dossier.close(actor=build.CLERK, at=build.T_CLOSE)
    assert dossier.closed == {"members": 0, "root": b64(hashlib.sha256(b"").digest())}


def test_a_dossier_closes_once(build: Builder) -> None:
    _, dossier = build.filed()
    dossier.close(actor=build.CLERK, at=build.T_CLOSE)
    with build.refused("dossier_closed", dossier):
        dossier.close(actor=build.CLERK, at=build.T_AFTER)


def test_only_the_custodian_closes(build: Builder) -> None:
    _, dossier = build.filed()
    with build.refused("not_custodian", dossier):
        dossier.close(actor=build.OUTSIDER, at=build.T_CLOSE)


def test_dossier_events_form_a_hash_chain(build: Builder) -> None:
    _, dossier = build.filed()
    dossier.close(actor=build.CLERK, at=build.T_CLOSE)
    stored = [e.canonical() for e in build.events(dossier)]
    assert [json.loads(s)["type"] for s in stored] == [
        "dossier.opened", "dossier.member_added", "dossier.closed"
    ]
    previous = None
    for number, data in enumerate(stored, start=1):
        envelope = json.loads(data)
        assert rfc8785.dumps(envelope) == data
        assert set(envelope) == {"v", "record", "version", "type", "at", "actor", "prev", "data"}
        assert envelope["version"] == number
        assert envelope["prev"] == (
            None if previous is None else b64(hashlib.sha256(previous).digest())
        )
        previous = data
    assert dossier.head == b64(hashlib.sha256(stored[-1]).digest())
    replayed = None
    for event in build.events(dossier):
        replayed = event.mutate(replayed)
    assert isinstance(replayed, Dossier)
    assert replayed.closed == dossier.closed
