"""The Dossier aggregate (hồ sơ): opened by its custodian, filled by filing records, closed with
a Merkle root that seals the members' digests."""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID

from domain import errors
from domain.chained import ChainedAggregate, aggregate_id
from domain.envelope import Actor
from domain.metadata import Retention, check_agency_code, check_digest, check_retention, check_text
from verifiers.canonical import b64, canonical_bytes
from verifiers.merkle import leaf_hash, root_of

DOSSIER_NAMESPACE = UUID("0c7d4e9a-31b2-5f6e-8a4d-2e9b7c1f5a63")
DOSSIER_CODE = re.compile(r"^(\d{3}\.\d{2}\.\d{2}\.[A-Z]\d{2})\.(\d{4})\.([^\s]{1,50})$")


def dossier_id(code: str) -> UUID:
    return aggregate_id(DOSSIER_NAMESPACE, code)


def member_leaf(record: str, digest: str) -> bytes:
    """The leaf sealed for one member: canonical JSON {"digest", "record"}."""
    return canonical_bytes({"digest": digest, "record": record})


def members_root(members: list[dict[str, str]]) -> str:
    """RFC 9162 root over the members' leaves in filing order, base64."""
    return b64(root_of([leaf_hash(member_leaf(m["record"], m["digest"])) for m in members]))


class Dossier(ChainedAggregate):
    class Event(ChainedAggregate.Event):
        pass

    class Opened(Event, ChainedAggregate.Created):
        TYPE: ClassVar[str] = "dossier.opened"
        code: str
        title: str
        retention: Retention
        custodian: str

        def apply(self, aggregate: Any) -> None:
            aggregate.code = self.code
            aggregate.title = self.title
            aggregate.retention = self.retention
            aggregate.custodian = self.custodian
            aggregate.members = []
            aggregate.closed = None

    class MemberAdded(Event):
        TYPE: ClassVar[str] = "dossier.member_added"
        record: str
        digest: str

        def apply(self, aggregate: Any) -> None:
            aggregate.members.append({"record": self.record, "digest": self.digest})

    class Closed(Event):
        TYPE: ClassVar[str] = "dossier.closed"
        members: int
        root: str

        def apply(self, aggregate: Any) -> None:
            aggregate.closed = {"members": self.members, "root": self.root}

    if TYPE_CHECKING:  # state, set by the events above
        code: str
        title: str
        retention: Retention
        custodian: str
        members: list[dict[str, str]]
        closed: dict[str, Any] | None

    @classmethod
    def open(
        cls, *, actor: Actor, at: datetime, code: str, title: str, retention: Any
    ) -> Dossier:
        """Open a dossier. Its code is `<agency code>.<year>.<notation>`, and the agency is the
        opener's: an agency opens dossiers only for itself."""
        match = DOSSIER_CODE.match(code) if isinstance(code, str) else None
        if match is None:
            raise errors.InvalidInputError(
                "dossier code must be <agency code>.<year>.<notation>", code=code
            )
        check_agency_code(actor.agency, "actor.agency")
        if match.group(1) != actor.agency:
            raise errors.NotCustodianError(
                "a dossier code starts with its custodian's agency code",
                code=code, actor=actor.agency,
            )
        return cls._create(
            cls.Opened, id=dossier_id(code), timestamp=at, actor=actor.as_dict(), prev=None,
            code=code, title=check_text(title, "title"), retention=check_retention(retention),
            custodian=actor.agency,
        )

    def check_custodian(self, actor: Actor) -> None:
        """Before any rule about the dossier's state: others learn nothing of it."""
        if actor.agency != self.custodian:
            raise errors.NotCustodianError(
                "only the dossier's custodian may do this", actor=actor.agency)

    def _open_for(self, actor: Actor) -> None:
        self.check_custodian(actor)
        if self.closed is not None:
            raise errors.DossierClosedError("the dossier is closed", dossier=self.code)

    def add_member(self, *, actor: Actor, at: datetime, record: UUID, digest: str) -> None:
        """Called by Record.file: both events are saved together or not at all."""
        self._open_for(actor)
        self._next(
            self.MemberAdded, actor=actor.as_dict(), timestamp=at, record=str(record),
            digest=check_digest(digest),
        )

    def close(self, *, actor: Actor, at: datetime) -> None:
        """Freeze the membership: the closing event seals the members' digests in a root."""
        self._open_for(actor)
        self._next(
            self.Closed, actor=actor.as_dict(), timestamp=at, members=len(self.members),
            root=members_root(self.members),
        )
