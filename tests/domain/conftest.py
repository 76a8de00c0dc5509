"""Builders for the pure domain tests: actors, metadata, and a record taken through each stage.

Nothing here touches a database or a clock: every command gets an explicit, timezone-aware
time from the constants below, so a test reads as a dated story.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, cast

import pytest

from domain.chained import ChainedAggregate
from domain.dossier import Dossier
from domain.envelope import Actor
from domain.errors import DomainError
from domain.record import Record

# Agencies (13-character codes, Decree 30 Annex VI style).
AGENCY = "000.00.12.H29"  # the issuing agency, first custodian
ARCHIVE = "000.00.12.A01"  # its agency archive (lưu trữ cơ quan)
HISTORICAL = "000.00.00.A02"  # a historical archive (lưu trữ lịch sử)
OTHER = "000.00.34.H50"  # an unrelated agency

CLERK = Actor(id="clerk-1", role="agency", agency=AGENCY)
ARCHIVIST = Actor(id="archivist-1", role="archivist", agency=ARCHIVE)
HISTORIAN = Actor(id="archivist-9", role="archivist", agency=HISTORICAL)
OUTSIDER = Actor(id="clerk-7", role="agency", agency=OTHER)
INSPECTOR = Actor(id="inspector-1", role="inspector", agency=OTHER)

# A dated story. The document is issued on 4 March 2020; with 10 years' retention its period
# runs out on 1 January 2031 (2020 + 1 + 10), on the legal calendar of Viet Nam (UTC+7).
HANOI = timezone(timedelta(hours=7))
ISSUED = "2020-03-04"
T_CREATE = datetime(2020, 3, 4, 8, 0, tzinfo=UTC)
T_SIGN = datetime(2020, 3, 4, 9, 0, tzinfo=UTC)
T_FILE = datetime(2020, 3, 5, 8, 0, tzinfo=UTC)
T_CLOSE = datetime(2020, 12, 31, 16, 0, tzinfo=UTC)
T_TRANSFER = datetime(2022, 6, 1, 8, 0, tzinfo=UTC)
T_RECEIVE = datetime(2022, 6, 15, 8, 0, tzinfo=UTC)
T_APPRAISE = datetime(2030, 11, 20, 8, 0, tzinfo=UTC)
RETENTION_END = datetime(2031, 1, 1, 0, 0, tzinfo=HANOI)  # 2030-12-31T17:00:00Z
T_APPROVE = datetime(2031, 3, 2, 8, 0, tzinfo=UTC)
T_HOLD = datetime(2031, 3, 10, 8, 0, tzinfo=UTC)
T_DESTROY = datetime(2031, 4, 1, 8, 0, tzinfo=UTC)
T_AFTER = datetime(2031, 5, 1, 8, 0, tzinfo=UTC)

DOSSIER_CODE = f"{AGENCY}.2020.HS-01"


def digest(data: bytes) -> str:
    return "sha-256:" + hashlib.sha256(data).hexdigest()


CONTENT = b"%PDF-1.7 Quyet dinh so 12/QD-UBND"
CONTENT_DIGEST = digest(CONTENT)
RECEIPT_DIGEST = digest(b"signed receipt of the historical archive")


def metadata(**overrides: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "doc_type": "Quyết định",
        "number": "12",
        "notation": "QĐ-UBND",
        "issued": ISSUED,
        "issuer": AGENCY,
        "subject": "Về việc phê duyệt kế hoạch lưu trữ năm 2020",
        "language": "vi",
        "pages": 3,
        "access": "open",
        "reliability": "born_digital",
    }
    meta.update(overrides)
    return meta


def content(**overrides: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "digest": CONTENT_DIGEST, "size": len(CONTENT), "media_type": "application/pdf",
    }
    value.update(overrides)
    return value


def snapshot(aggregate: ChainedAggregate) -> dict[str, Any]:
    """Everything an aggregate holds, pending events by identity: equal snapshots mean the
    aggregate did not change at all."""
    state = {k: v for k, v in vars(aggregate).items() if k != "_pending_events"}
    return {
        "state": copy.deepcopy(state),
        "pending": [id(e) for e in aggregate.pending_events],
    }


class Builder:
    """Makes fresh aggregates at each stage of a record's life.

    The constants above are also reachable as attributes (`build.CLERK`, `build.T_APPROVE`), so
    test modules need not import this conftest by name.
    """

    AGENCY, ARCHIVE, HISTORICAL, OTHER = AGENCY, ARCHIVE, HISTORICAL, OTHER
    CLERK, ARCHIVIST, HISTORIAN, OUTSIDER, INSPECTOR = (
        CLERK, ARCHIVIST, HISTORIAN, OUTSIDER, INSPECTOR
    )
    ISSUED, DOSSIER_CODE, CONTENT, CONTENT_DIGEST = ISSUED, DOSSIER_CODE, CONTENT, CONTENT_DIGEST
    T_CREATE, T_SIGN, T_FILE, T_CLOSE = T_CREATE, T_SIGN, T_FILE, T_CLOSE
    T_TRANSFER, T_RECEIVE, T_APPRAISE = T_TRANSFER, T_RECEIVE, T_APPRAISE
    RETENTION_END, T_APPROVE, T_HOLD, T_DESTROY, T_AFTER = (
        RETENTION_END, T_APPROVE, T_HOLD, T_DESTROY, T_AFTER
    )
    digest = staticmethod(digest)
    metadata = staticmethod(metadata)
    content = staticmethod(content)

    # -- create ---------------------------------------------------------------------------
    def record(
        self,
        *,
        actor: Actor = CLERK,
        at: datetime = T_CREATE,
        retention: Any = 10,
        schedule: str = "TT05/2025 Phụ lục I, mục 1.2",
        content_: dict[str, Any] | None = None,
        **meta: Any,
    ) -> Record:
        return Record.register(
            actor=actor, at=at, metadata=metadata(**meta), retention=retention,
            schedule=schedule, content=content_ if content_ is not None else content(),
        )

    # -- sign -----------------------------------------------------------------------------
    def signature(
        self, signer_class: str = "individual", verdict: str = "PASSED", **overrides: Any
    ) -> dict[str, Any]:
        params: dict[str, Any] = {
            "format": "pades",
            "signer_class": signer_class,
            "signed_digest": CONTENT_DIGEST,
            "signer": digest(f"certificate of {signer_class}".encode()),
            "chain": [digest(b"intermediate CA"), digest(b"root CA")],
            "signing_time": "2020-03-04T08:55:00Z",
            "signature": digest(f"signature of {signer_class}".encode()),
            "validation": {
                "verdict": verdict,
                "anchor": digest(b"root CA"),
                "revocation": [digest(b"OCSP response")],
            },
        }
        params.update(overrides)
        return params

    def sign(
        self,
        record: Record,
        signer_class: str = "individual",
        verdict: str = "PASSED",
        *,
        actor: Actor = CLERK,
        at: datetime = T_SIGN,
        **overrides: Any,
    ) -> None:
        record.sign(actor=actor, at=at, **self.signature(signer_class, verdict, **overrides))

    def issued(self, **meta: Any) -> Record:
        """Registered, then signed by an individual and by the agency, both PASSED."""
        record = self.record(**meta)
        self.sign(record, "individual")
        self.sign(record, "organization")
        return record

    # -- file -----------------------------------------------------------------------------
    def dossier(
        self,
        code: str = DOSSIER_CODE,
        *,
        actor: Actor = CLERK,
        at: datetime = T_FILE,
        title: str = "Hồ sơ kế hoạch lưu trữ năm 2020",
        retention: Any = 10,
    ) -> Dossier:
        return Dossier.open(actor=actor, at=at, code=code, title=title, retention=retention)

    def filed(self) -> tuple[Record, Dossier]:
        record = self.issued()
        dossier = self.dossier()
        record.file(actor=CLERK, at=T_FILE, dossier=dossier)
        return record, dossier

    # -- transfer -------------------------------------------------------------------------
    PACKAGE_DIGEST = digest(b"submission information package 2022-01")
    RECEIPT = RECEIPT_DIGEST
    COUNTS = {"dossiers": 1, "documents": 1, "bytes": len(CONTENT)}

    def transfer(self, **overrides: Any) -> dict[str, Any]:
        params: dict[str, Any] = {
            "transfer": "NL-2022-01",
            "destination": ARCHIVE,
            "destination_kind": "agency_archive",
            "registration": "BB-2022-01",
            "package_digest": self.PACKAGE_DIGEST,
            "counts": dict(self.COUNTS),
            "legal_basis": {"number": "45/QĐ-UBND", "code": "45/QĐ-UBND", "date": "2022-05-20"},
        }
        params.update(overrides)
        return params

    def receipt(self, **overrides: Any) -> dict[str, Any]:
        params: dict[str, Any] = {
            "transfer": "NL-2022-01",
            "package_digest": self.PACKAGE_DIGEST,
            "counts": dict(self.COUNTS),
            "content_digest": CONTENT_DIGEST,
            "receipt": RECEIPT_DIGEST,
        }
        params.update(overrides)
        return params

    def transfer_pending(self, **transfer: Any) -> Record:
        record = self.issued()
        record.initiate_transfer(actor=CLERK, at=T_TRANSFER, **self.transfer(**transfer))
        return record

    def transferred(self) -> Record:
        """Received by the agency archive, which is now the custodian."""
        record = self.transfer_pending()
        record.receive_transfer(actor=ARCHIVIST, at=T_RECEIVE, **self.receipt())
        return record

    # -- appraise and destroy (by the agency, the custodian throughout) --------------------
    def appraise(
        self,
        record: Record,
        decision: str = "destroy",
        retention: Any = 10,
        *,
        actor: Actor = CLERK,
        at: datetime = T_APPRAISE,
        minutes: str = "BB-HĐXĐGT-2030-07",
    ) -> None:
        record.appraise(
            actor=actor, at=at, council="Hội đồng xác định giá trị tài liệu", minutes=minutes,
            decision=decision, retention=retention,
            legal_basis={"number": "88/QĐ-UBND", "code": "88/QĐ-UBND", "date": "2030-11-18"},
        )

    def appraised(self, decision: str = "destroy", retention: Any = 10) -> Record:
        record = self.issued()
        self.appraise(record, decision, retention)
        return record

    def approve(self, record: Record, *, actor: Actor = CLERK, at: datetime = T_APPROVE) -> None:
        record.approve_destruction(
            actor=actor, at=at, decision="QĐ-HUY-2031-03",
            legal_basis={"number": "12/QĐ-UBND", "code": "12/QĐ-UBND", "date": "2031-03-01"},
        )

    def approved(self) -> Record:
        record = self.appraised()
        self.approve(record)
        return record

    def destroy(self, record: Record, *, actor: Actor = CLERK, at: datetime = T_DESTROY) -> None:
        record.destroy(actor=actor, at=at, minutes="BB-HUY-2031-04", replicas_purged=2)

    def destroyed(self) -> Record:
        record = self.approved()
        self.destroy(record)
        return record

    # -- holds ----------------------------------------------------------------------------
    def hold(
        self, record: Record, hold: str = "TTr-2031-05", *, actor: Actor = INSPECTOR,
        at: datetime = T_HOLD,
    ) -> None:
        record.place_hold(
            actor=actor, at=at, hold=hold, reason="thanh tra công vụ",
            legal_basis={"number": "5/QĐ-TTr", "code": "5/QĐ-TTr", "date": "2031-03-09"},
        )

    # -- assertions -----------------------------------------------------------------------
    @contextmanager
    def refused(self, code: str, *aggregates: ChainedAggregate) -> Iterator[None]:
        """The block must raise the DomainError with `code`, and leave every one of
        `aggregates` exactly as it was: same version, same state, no new pending event."""
        before = [snapshot(a) for a in aggregates]
        versions = [a.version for a in aggregates]
        with pytest.raises(DomainError) as info:
            yield
        assert info.value.code == code, info.value.diagnostics()
        assert [a.version for a in aggregates] == versions
        assert [snapshot(a) for a in aggregates] == before

    @staticmethod
    def events(aggregate: ChainedAggregate) -> list[ChainedAggregate.Event]:
        """The aggregate's new events (never collected: nothing here saves them)."""
        return cast("list[ChainedAggregate.Event]", aggregate.pending_events)

    def last_type(self, aggregate: ChainedAggregate) -> str:
        return self.events(aggregate)[-1].TYPE


@pytest.fixture
def build() -> Builder:
    return Builder()
