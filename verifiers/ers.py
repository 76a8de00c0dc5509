"""RFC 4998 Evidence Record Syntax (ERS): parse, check the hash arithmetic, build and renew.

An EvidenceRecord keeps a proof of existence alive for longer than any certificate or hash
algorithm: a sequence of ArchiveTimeStampChains, each a sequence of ArchiveTimeStamps (ATS),
each an RFC 3161 timestamp token over the root of a Merkle hash tree, with the reduced hash
tree (the path from the covered hashes to that root) kept beside it.

- `parse_evidence_record` reads the DER and checks its invariants at the door.
- `verify_binding` checks the hash arithmetic of RFC 4998 §5.3: the data objects are in the
  first ATS's tree, every tree reduces to its token's messageImprint, every timestamp renewal
  covers the previous timestamp and every hash-tree renewal covers the data again. It does not
  validate TSA certificates or token signatures: `BindingReport.timestamps()` hands each token
  and its genTime to that later step.
- `hash_tree`, `new_evidence_record`, `timestamp_renewal_input`, `renew_timestamp`,
  `hash_tree_renewal_input` and `renew_hash_tree` build and renew records from tokens the
  caller already obtained (no network here).

Where RFC 4998 is ambiguous this module follows EU DSS and Bouncy Castle (see the
"RFC 4998 traps" of FIELD-NOTES): tree nodes hash the sorted concatenation of their children; a
list with a single value passes up unhashed; a hash-tree renewal hashes h(d) || h(ATSSeq)
unsorted; a timestamp renewal hashes the previous `timeStamp` ContentInfo as stored.

Every public function raises only `verifiers.errors.VerificationError` subclasses.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, TypeVar

from asn1crypto import algos, cms, core, parser, tsp

from verifiers.errors import MalformedError, VerificationError
from verifiers.errors import guard_parse as _guard
from verifiers.errors import require_bytes as _bytes
from verifiers.report import Check, Report, Verdict

__all__ = [
    "BUILD_ALGORITHMS",
    "VERIFY_ALGORITHMS",
    "AlgorithmMismatchError",
    "ArchiveTimeStamp",
    "ArchiveTimeStampChain",
    "ArchiveTimeStampEntry",
    "ArchiveTimeStampSequence",
    "BindingReport",
    "CryptoInfos",
    "EncryptionInfo",
    "ErsError",
    "EvidenceRecord",
    "ImprintMismatchError",
    "NotBoundError",
    "PartialHashtree",
    "ReducedTree",
    "RenewalBrokenError",
    "UnsupportedAlgorithmError",
    "hash_tree",
    "hash_tree_renewal_input",
    "new_evidence_record",
    "parse_evidence_record",
    "renew_hash_tree",
    "renew_timestamp",
    "timestamp_renewal_input",
    "verify_binding",
]


# --- Errors ---------------------------------------------------------------------------------


class ErsError(VerificationError):
    """An evidence record whose hash arithmetic does not hold."""

    code = "ers_invalid"


class NotBoundError(ErsError):
    """The data objects are not covered by the evidence record (RFC 4998 §5.3 step 1)."""

    code = "ers_not_bound"


class ImprintMismatchError(ErsError):
    """A reduced hash tree does not reduce to its token's messageImprint (RFC 4998 §4.3)."""

    code = "ers_imprint_mismatch"


class RenewalBrokenError(ErsError):
    """A timestamp or hash-tree renewal does not cover what it renews (RFC 4998 §5.2)."""

    code = "ers_renewal_broken"


class AlgorithmMismatchError(ErsError):
    """An ATS whose digestAlgorithm differs from its token's, or from its chain's (§5.2)."""

    code = "ers_algorithm_mismatch"


class UnsupportedAlgorithmError(ErsError):
    """A hash algorithm this module does not compute (or, for building, does not use)."""

    code = "ers_algorithm_unsupported"


_ERRORS: dict[str, type[VerificationError]] = {
    cls.code: cls
    for cls in (
        MalformedError,
        NotBoundError,
        ImprintMismatchError,
        RenewalBrokenError,
        AlgorithmMismatchError,
        UnsupportedAlgorithmError,
    )
}


# --- ASN.1 (RFC 4998 §2.1 module, DEFINITIONS IMPLICIT TAGS) --------------------------------
# asn1crypto ships no type information, so mypy sees its classes as Any.


class _AttributeValues(core.SetOf):  # type: ignore[misc]
    _child_spec = core.Any


class Attribute(core.Sequence):  # type: ignore[misc]
    """X.501 Attribute, as RFC 4998 imports it from PKIX1Explicit88 (RFC 5280)."""

    _fields = [("type", core.ObjectIdentifier), ("values", _AttributeValues)]


class Attributes(core.SetOf):  # type: ignore[misc]
    """Attributes ::= SET SIZE (1..MAX) OF Attribute (RFC 4998 §4.2)."""

    _child_spec = Attribute


class CryptoInfos(core.SequenceOf):  # type: ignore[misc]
    """CryptoInfos ::= SEQUENCE SIZE (1..MAX) OF Attribute (RFC 4998 §4.1)."""

    _child_spec = Attribute


class EncryptionInfo(core.Sequence):  # type: ignore[misc]
    """EncryptionInfo ::= SEQUENCE { encryptionInfoType, encryptionInfoValue } (§4.1)."""

    _fields = [
        ("encryption_info_type", core.ObjectIdentifier),
        ("encryption_info_value", core.Any),
    ]


class PartialHashtree(core.SequenceOf):  # type: ignore[misc]
    """PartialHashtree ::= SEQUENCE OF OCTET STRING (RFC 4998 §4.2)."""

    _child_spec = core.OctetString


class _ReducedHashtree(core.SequenceOf):  # type: ignore[misc]
    _child_spec = PartialHashtree


class ArchiveTimeStamp(core.Sequence):  # type: ignore[misc]
    """RFC 4998 §4.2: digestAlgorithm [0], attributes [1], reducedHashtree [2], timeStamp."""

    _fields = [
        ("digest_algorithm", algos.DigestAlgorithm, {"implicit": 0, "optional": True}),
        ("attributes", Attributes, {"implicit": 1, "optional": True}),
        ("reduced_hashtree", _ReducedHashtree, {"implicit": 2, "optional": True}),
        ("time_stamp", cms.ContentInfo),
    ]


class ArchiveTimeStampChain(core.SequenceOf):  # type: ignore[misc]
    """ArchiveTimeStampChain ::= SEQUENCE OF ArchiveTimeStamp (RFC 4998 §5.1)."""

    _child_spec = ArchiveTimeStamp


class ArchiveTimeStampSequence(core.SequenceOf):  # type: ignore[misc]
    """ArchiveTimeStampSequence ::= SEQUENCE OF ArchiveTimeStampChain (RFC 4998 §5.1)."""

    _child_spec = ArchiveTimeStampChain


class _DigestAlgorithms(core.SequenceOf):  # type: ignore[misc]
    _child_spec = algos.DigestAlgorithm


class EvidenceRecord(core.Sequence):  # type: ignore[misc]
    """RFC 4998 §4.1 EvidenceRecord."""

    _fields = [
        ("version", core.Integer),
        ("digest_algorithms", _DigestAlgorithms),
        ("crypto_infos", CryptoInfos, {"implicit": 0, "optional": True}),
        ("encryption_info", EncryptionInfo, {"implicit": 1, "optional": True}),
        ("archive_time_stamp_sequence", ArchiveTimeStampSequence),
    ]


# --- Hash algorithms ------------------------------------------------------------------------

# Names are asn1crypto's (DigestAlgorithmId), which hashlib also accepts.
VERIFY_ALGORITHMS = frozenset(
    {"sha224", "sha256", "sha384", "sha512", "sha3_224", "sha3_256", "sha3_384", "sha3_512"}
)
# Algorithms new archive timestamps are made with. SHA-224 and the other SHA-3 sizes still
# verify (real records use them), but Stele does not start chains with them.
BUILD_ALGORITHMS = ("sha256", "sha384", "sha512", "sha3_256", "sha3_512")

ReducedTree = tuple[tuple[bytes, ...], ...]
"""A reduced hash tree: lists (levels) of hash values, the covered hash in the first list."""

_NULL = b"\x05\x00"
_T = TypeVar("_T")


def _h(alg: str, *parts: bytes) -> bytes:
    digest = hashlib.new(alg)
    for part in parts:
        digest.update(part)
    return digest.digest()


def _size(alg: str) -> int:
    return hashlib.new(alg).digest_size


def _check_build_algorithm(alg: object) -> str:
    if not isinstance(alg, str) or alg not in BUILD_ALGORITHMS:
        raise UnsupportedAlgorithmError(
            "not an algorithm archive timestamps are built with",
            algorithm=repr(alg),
            supported=", ".join(BUILD_ALGORITHMS),
        )
    return alg


def _reduce(tree: ReducedTree, alg: str) -> bytes:
    """RFC 4998 §4.3 steps 3-4: hash each list with the previous list's result, the values
    sorted in binary ascending order and concatenated; the last result is the root.
    A list that holds a single value (after adding the previous result) passes it up
    unhashed, as EU DSS and Bouncy Castle do (RFC 6283, XMLERS, states the rule)."""
    node: bytes | None = None
    for level in tree:
        values = [*level] if node is None else [*level, node]
        node = values[0] if len(values) == 1 else _h(alg, *sorted(values))
    if node is None:  # precondition: the tree has been checked non-empty
        raise MalformedError("empty reduced hash tree")
    return node


def _sequence(contents: bytes) -> bytes:
    """DER SEQUENCE around `contents` (definite length)."""
    data: bytes = parser.emit(0, 1, 16, contents)
    return data


# --- Reading --------------------------------------------------------------------------------


class _Alg(NamedTuple):
    name: str  # asn1crypto's name, or the dotted OID when it has none
    oid: str
    der: bytes  # the AlgorithmIdentifier, as stored (a SEQUENCE)


class _Token(NamedTuple):
    der: bytes  # the ContentInfo, as stored
    alg: _Alg  # TSTInfo messageImprint hashAlgorithm
    imprint: bytes  # TSTInfo messageImprint hashedMessage
    gen_time: datetime


class _Ats(NamedTuple):
    der: bytes
    field_alg: _Alg | None  # the digestAlgorithm [0] field, if present
    tree: ReducedTree | None
    token: _Token

    @property
    def alg(self) -> _Alg:
        # RFC 4998 §4.2: without digestAlgorithm, the timestamp's hash algorithm is used.
        return self.field_alg or self.token.alg


class _Record(NamedTuple):
    er: EvidenceRecord
    version_der: bytes
    digest_algorithms: tuple[_Alg, ...]
    optional_der: bytes  # cryptoInfos [0] and encryptionInfo [1], as stored
    chains: tuple[tuple[_Ats, ...], ...]


def _algorithm(value: Any, where: str) -> _Alg:
    # RFC 5754 §2 / RFC 8702 §2: hash AlgorithmIdentifiers carry no parameters, or NULL.
    params = value["parameters"]
    if not isinstance(params, core.Void) and params.dump() != _NULL:
        raise MalformedError(f"{where}: hash algorithm parameters are neither absent nor NULL")
    oid = value["algorithm"]
    return _Alg(str(oid.native), str(oid.dotted), value.dump())


def _read_token_info(der: bytes, where: str) -> _Token:
    """RFC 3161 §2.4.2: a TimeStampToken is a ContentInfo of SignedData whose encapsulated
    content is a TSTInfo (id-ct-TSTInfo), signed by the TSA alone. Parsed from its own copy
    of `der`: asn1crypto may re-encode a value once its children were read, and the bytes
    kept here must be the bytes stored."""
    content_info = cms.ContentInfo.load(der, strict=True)
    if content_info["content_type"].native != "signed_data":
        raise MalformedError(f"{where}: timeStamp is not a SignedData ContentInfo")
    signed = content_info["content"]
    encap = signed["encap_content_info"]
    if encap["content_type"].native != "tst_info":
        raise MalformedError(f"{where}: timeStamp does not encapsulate a TSTInfo")
    content = encap["content"]
    if isinstance(content, core.Void):
        raise MalformedError(f"{where}: timeStamp has no eContent")
    signers = signed["signer_infos"]
    if len(signers) != 1:
        raise MalformedError(f"{where}: timeStamp has {len(signers)} signers")
    # The signer's fields are parsed here, their meaning is for token validation (a later
    # step). Not `.native` on the whole SignerInfos: asn1crypto re-encodes it to get there.
    for name in ("version", "sid", "digest_algorithm", "signature_algorithm", "signature"):
        signers[0][name].native  # noqa: B018
    signed["digest_algorithms"].native  # noqa: B018
    tst = content.parsed
    if not isinstance(tst, tsp.TSTInfo):
        raise MalformedError(f"{where}: eContent is not a TSTInfo")
    imprint = tst["message_imprint"]
    alg = _algorithm(imprint["hash_algorithm"], f"{where} messageImprint")
    tst.native  # noqa: B018
    gen_time = tst["gen_time"].native
    # RFC 3161 §2.4.2: genTime is UTC ("Z"); a time without a zone cannot be ordered.
    if not isinstance(gen_time, datetime) or gen_time.tzinfo is None:
        raise MalformedError(f"{where}: genTime is not a UTC time", gen_time=str(gen_time))
    return _Token(der, alg, imprint["hashed_message"].native, gen_time)


def _read_ats(ats: Any, where: str) -> _Ats:
    der = ats.dump()  # as stored: nothing below it has been read yet
    field = ats["digest_algorithm"]
    field_alg = None if isinstance(field, core.Void) else _algorithm(field, where)
    ats["attributes"].native  # parsed at the door; RFC 4998 gives them no hashing role  # noqa: B018
    tree: ReducedTree | None = None
    value = ats["reduced_hashtree"]
    if not isinstance(value, core.Void):
        tree = tuple(tuple(bytes(v.native) for v in level) for level in value)
        if not tree or not all(tree):
            raise MalformedError(f"{where}: empty reducedHashtree or PartialHashtree")
    token = _read_token_info(ats["time_stamp"].dump(), where)
    return _Ats(der, field_alg, tree, token)


def _read_record(der: bytes) -> _Record:
    er = EvidenceRecord.load(der, strict=True)  # strict: no bytes after the record
    version = er["version"].native
    if version != 1:  # RFC 4998 §4.1: version INTEGER { v1(1) }
        raise MalformedError("EvidenceRecord version is not v1", version=version)
    listed = tuple(_algorithm(a, "digestAlgorithms") for a in er["digest_algorithms"])
    optional = b""
    for name in ("crypto_infos", "encryption_info"):
        value = er[name]
        if not isinstance(value, core.Void):
            value.native  # noqa: B018
            optional += value.dump()
    sequence = er["archive_time_stamp_sequence"]
    if len(sequence) == 0:
        raise MalformedError("ArchiveTimeStampSequence has no chain")
    chains = []
    for i, chain in enumerate(sequence):
        if len(chain) == 0:
            raise MalformedError(f"chain[{i}] has no ArchiveTimeStamp")
        chains.append(tuple(_read_ats(ats, f"chain[{i}].ats[{j}]") for j, ats in enumerate(chain)))
    record = _Record(er, er["version"].dump(), listed, optional, tuple(chains))
    # Every piece kept above is as stored only if the record is DER at its own level
    # (definite, minimal lengths): the hashes of RFC 4998 §5.2 are over those bytes.
    chain_ders = [_chain_der(chain) for chain in record.chains]
    if _record_der(record.version_der, [a.der for a in listed], optional, chain_ders) != der:
        raise MalformedError("EvidenceRecord is not DER encoded")
    return record


def _read(der: object) -> _Record:
    return _guard("EvidenceRecord", _read_record, _bytes(der, "evidence record"))


def _read_token(der: object) -> _Token:
    return _guard("timestamp token", _read_token_info, _bytes(der, "timestamp token"), "token")


def parse_evidence_record(der: bytes) -> EvidenceRecord:
    """Parse a DER EvidenceRecord and check it at the door: version 1, at least one chain,
    no empty chain, no empty hash list, every timeStamp a SignedData TSTInfo ContentInfo with
    one signer, hash AlgorithmIdentifiers without parameters (or NULL), no trailing bytes.
    Raises MalformedError otherwise. Says nothing about the hash arithmetic."""
    return _read(der).er


def _record_der(
    version_der: bytes,
    digest_algorithms: Sequence[bytes],
    optional_der: bytes,
    chains: Sequence[bytes],
) -> bytes:
    """RFC 4998 §4.1 EvidenceRecord from its parts, each already DER."""
    return _sequence(
        version_der
        + _sequence(b"".join(digest_algorithms))
        + optional_der
        + _sequence(b"".join(chains))
    )


def _chain_der(chain: Sequence[_Ats]) -> bytes:
    return _sequence(b"".join(ats.der for ats in chain))


def _ats_sequence_der(chains: Sequence[Sequence[_Ats]]) -> bytes:
    """DER of an ArchiveTimeStampSequence holding `chains`, each as stored (RFC 4998 §5.2)."""
    return _sequence(b"".join(_chain_der(chain) for chain in chains))


# --- Verification ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ArchiveTimeStampEntry:
    """One ArchiveTimeStamp, as `verify_binding` found it. Indexes count from 0."""

    chain: int
    position: int
    kind: str  # "initial", "timestamp-renewal" or "hashtree-renewal"
    digest_algorithm: str  # asn1crypto name (e.g. "sha256"), or the dotted OID
    gen_time: datetime  # TSTInfo genTime
    imprint: bytes  # TSTInfo messageImprint hashedMessage
    imprint_matched: bool  # the reduced hash tree reduces to `imprint`
    token: bytes  # the timeStamp ContentInfo (the TimeStampToken), DER as stored


@dataclass(frozen=True)
class BindingReport:
    """What `verify_binding` checked. `bound` is the bottom line of the hash arithmetic; the
    TSA certificates and token signatures still need validating, token by token."""

    bound: bool
    entries: tuple[ArchiveTimeStampEntry, ...]
    checks: tuple[Check, ...]

    def timestamps(self) -> tuple[tuple[bytes, datetime], ...]:
        """(token DER, genTime) of every ATS, oldest first. RFC 4998 §5.3: each token must be
        valid at the genTime of the next one, the last one now."""
        return tuple((e.token, e.gen_time) for e in self.entries)

    @property
    def failures(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.verdict is not Verdict.PASSED)

    def as_report(self) -> Report:
        return Report(self.checks, {"bound": self.bound, "archive_timestamps": len(self.entries)})

    def raise_for_failure(self) -> None:
        """Raise the error of the first failed check (a VerificationError), if any."""
        for check in self.failures:
            error = _ERRORS.get(check.code or "", ErsError)
            raise error(f"{check.name}: {check.message}", **check.evidence)


class _DataObject:
    """A data object: its bytes, or its digests by algorithm name."""

    def __init__(self, data: bytes | None, digests: dict[str, bytes]) -> None:
        self.data = data
        self.digests = digests

    def digest(self, alg: str) -> bytes | None:
        if self.data is not None:
            return _h(alg, self.data)
        return self.digests.get(alg)


def _data_set(
    data_objects: Sequence[bytes] | None,
    digests: Sequence[bytes | Mapping[str, bytes]] | None,
    initial_alg: str,
) -> list[_DataObject]:
    objects: list[_DataObject] = []
    for what, items in (("data_objects", data_objects), ("digests", digests)):
        if items is None:
            continue
        if isinstance(items, bytes | bytearray | memoryview | str | Mapping) or not isinstance(
            items, Sequence
        ):
            raise MalformedError(f"{what} must be a sequence", type=type(items).__name__)
        for k, item in enumerate(items):
            if what == "data_objects":
                objects.append(_DataObject(_bytes(item, f"data_objects[{k}]"), {}))
            elif isinstance(item, Mapping):
                objects.append(_DataObject(None, _digest_map(item, f"digests[{k}]")))
            elif initial_alg in VERIFY_ALGORITHMS:
                # A bare digest is under the algorithm of the first chain (the original one).
                objects.append(_DataObject(None, _digest_map({initial_alg: item}, f"digests[{k}]")))
            else:  # the report says the algorithm is unsupported
                objects.append(_DataObject(None, {initial_alg: _bytes(item, f"digests[{k}]")}))
    return objects


def _digest_map(item: Mapping[Any, Any], where: str) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for alg, value in item.items():
        if alg not in VERIFY_ALGORITHMS:
            raise MalformedError(f"{where}: unknown hash algorithm", algorithm=repr(alg))
        digest = _bytes(value, where)
        if len(digest) != _size(alg):
            raise MalformedError(f"{where}: not a {alg} digest", length=len(digest))
        out[alg] = digest
    return out


class _Checks:
    def __init__(self) -> None:
        self.items: list[Check] = []

    def add(
        self,
        name: str,
        error: type[VerificationError] | None = None,
        message: str = "",
        verdict: Verdict = Verdict.FAILED,
        **evidence: Any,
    ) -> bool:
        """Record a check: passed without `error`, else failed (or, when this module could
        not decide, INDETERMINATE: never confused with forged). Returns whether it passed."""
        if error is None:
            self.items.append(Check(name, Verdict.PASSED))
            return True
        self.items.append(Check(name, verdict, error.code, message, evidence))
        return False


def verify_binding(
    er_der: bytes,
    data_objects: Sequence[bytes] | None = None,
    digests: Sequence[bytes | Mapping[str, bytes]] | None = None,
) -> BindingReport:
    """Check the hash arithmetic of an evidence record over a data set (RFC 4998 §5.3).

    The data set is `data_objects` (raw bytes) plus `digests`: each either a mapping from
    algorithm name to that data object's digest (a record with hash-tree renewals needs one
    per chain algorithm), or bare bytes, the digest under the first chain's algorithm.
    An empty data set is never bound. Every data object must be covered by every chain.

    Raises MalformedError if the record or the inputs do not parse; everything else is in
    the report. TSA certificates and token signatures are not checked here.
    """
    record = _read(er_der)
    chains = record.chains
    objects = _data_set(data_objects, digests, chains[0][0].alg.name)
    checks = _Checks()
    entries: list[ArchiveTimeStampEntry] = []

    if not objects:
        checks.add("ers.data", NotBoundError, "no data objects supplied")

    # RFC 4998 §4.1: digestAlgorithms is the union of the algorithms of every ATS.
    used = {ats.alg.oid: ats.alg.name for chain in chains for ats in chain}
    listed = {a.oid: a.name for a in record.digest_algorithms}
    if used.keys() == listed.keys():
        checks.add("ers.digest_algorithms", None)
    else:
        checks.add(
            "ers.digest_algorithms",
            AlgorithmMismatchError,
            "digestAlgorithms is not the set of algorithms the archive timestamps use",
            listed=sorted(listed.values()),
            used=sorted(used.values()),
        )

    for i, chain in enumerate(chains):
        chain_alg = chain[0].alg
        for j, ats in enumerate(chain):
            name = f"ers.chain[{i}].ats[{j}]"
            alg = ats.alg
            usable = _check_algorithm(checks, name, ats, chain_alg, j)
            matched = usable and _check_imprint(checks, name, ats)
            covered = ats.tree[0] if ats.tree is not None else (ats.token.imprint,)
            if not usable:
                pass
            elif j > 0:
                # RFC 4998 §5.3 step 2 (§5.2 timestamp renewal): this ATS covers the hash of
                # the previous ATS's timeStamp ContentInfo, as stored.
                expected = _h(alg.name, chain[j - 1].token.der)
                checks.add(
                    f"{name}.renewal",
                    None if expected in covered else RenewalBrokenError,
                    "does not cover the previous timestamp",
                    expected=expected.hex(),
                )
            else:
                _check_data(checks, name, objects, chains[:i], alg.name, covered)
            if entries:
                # Each ATS renews what came before it, so it cannot be older (RFC 4998 §5.3:
                # each timestamp is checked at the time of the next one).
                # TSAs state genTime to different precisions (whole seconds, milliseconds), so a
                # renewal within the same second may read as a fraction earlier: compare at
                # the precision of a second.
                previous_time = entries[-1].gen_time
                checks.add(
                    f"{name}.time",
                    None if ats.token.gen_time >= previous_time.replace(microsecond=0)
                    else RenewalBrokenError,
                    "genTime is earlier than the previous archive timestamp's",
                    gen_time=ats.token.gen_time.isoformat(),
                    previous=previous_time.isoformat(),
                )
            kind = "timestamp-renewal" if j else "hashtree-renewal" if i else "initial"
            entries.append(
                ArchiveTimeStampEntry(
                    chain=i,
                    position=j,
                    kind=kind,
                    digest_algorithm=alg.name,
                    gen_time=ats.token.gen_time,
                    imprint=ats.token.imprint,
                    imprint_matched=matched,
                    token=ats.token.der,
                )
            )

    bound = all(c.verdict is Verdict.PASSED for c in checks.items)
    return BindingReport(bound, tuple(entries), tuple(checks.items))


def _check_algorithm(checks: _Checks, name: str, ats: _Ats, chain_alg: _Alg, j: int) -> bool:
    """RFC 4998 §4.2: the ATS's digestAlgorithm, when present, is its token's; §5.2: a
    timestamp renewal keeps the chain's algorithm (a new one means a new chain)."""
    alg = ats.alg
    if ats.field_alg is not None and ats.field_alg.oid != ats.token.alg.oid:
        return checks.add(
            f"{name}.algorithm",
            AlgorithmMismatchError,
            "digestAlgorithm differs from the timestamp's hash algorithm",
            digest_algorithm=ats.field_alg.name,
            timestamp=ats.token.alg.name,
        )
    if j > 0 and alg.oid != chain_alg.oid:
        return checks.add(
            f"{name}.algorithm",
            AlgorithmMismatchError,
            "timestamp renewal changes the chain's hash algorithm",
            chain=chain_alg.name,
            found=alg.name,
        )
    if alg.name not in VERIFY_ALGORITHMS:
        return checks.add(
            f"{name}.algorithm",
            UnsupportedAlgorithmError,
            "hash algorithm not supported",
            Verdict.INDETERMINATE,
            algorithm=alg.name,
        )
    return checks.add(f"{name}.algorithm", None)


def _check_imprint(checks: _Checks, name: str, ats: _Ats) -> bool:
    """RFC 4998 §4.3 step 4: the root of the reduced hash tree is the token's imprint; with no
    reducedHashtree the imprint is itself the covered hash."""
    alg = ats.alg.name
    size = _size(alg)
    values = [v for level in ats.tree or () for v in level]
    if any(len(v) != size for v in [ats.token.imprint, *values]):
        return checks.add(
            f"{name}.imprint",
            MalformedError,
            f"a hash value is not {size} bytes long, as {alg} gives",
        )
    if ats.tree is None:
        return checks.add(f"{name}.imprint", None)
    root = _reduce(ats.tree, alg)
    if root == ats.token.imprint:
        return checks.add(f"{name}.imprint", None)
    return checks.add(
        f"{name}.imprint",
        ImprintMismatchError,
        "reduced hash tree does not reduce to the timestamp's messageImprint",
        expected=ats.token.imprint.hex(),
        calculated=root.hex(),
    )


def _check_data(
    checks: _Checks,
    name: str,
    objects: Sequence[_DataObject],
    previous: Sequence[Sequence[_Ats]],
    alg: str,
    covered: Sequence[bytes],
) -> None:
    """RFC 4998 §5.3 step 1: the data object's hash is in the first list of the chain's first
    ATS. §5.2/§5.3 step 3: after a hash-tree renewal, that hash is H(h(d) || h(ATSSeq)),
    ATSSeq the DER of the preceding chains, concatenated unsorted (as EU DSS and Bouncy
    Castle do; FIELD-NOTES "RFC 4998 traps")."""
    ha = _h(alg, _ats_sequence_der(previous)) if previous else b""
    for k, obj in enumerate(objects):
        digest = obj.digest(alg)
        if digest is None:
            checks.add(
                f"{name}.data[{k}]",
                NotBoundError,
                f"no digest of data object {k} under {alg}, which this chain needs",
                Verdict.INDETERMINATE,
            )
            continue
        if previous:
            expected = _h(alg, digest, ha)
            error: type[ErsError] = RenewalBrokenError
            message = "hash-tree renewal does not cover the data object"
        else:
            expected = digest
            error = NotBoundError
            message = "data object not in the first hash list"
        checks.add(
            f"{name}.data[{k}]",
            None if expected in covered else error,
            message,
            expected=expected.hex(),
        )


# --- Building -------------------------------------------------------------------------------


def hash_tree(leaves: Sequence[bytes], alg: str) -> tuple[bytes, tuple[ReducedTree, ...]]:
    """RFC 4998 §4.2: a binary Merkle hash tree over `leaves` (digests under `alg`, one per
    data object or per archive timestamp being renewed). Returns the root, to be timestamped,
    and for each leaf, in the order given, its reduced hash tree.

    The leaves are sorted (binary ascending) and paired left to right; each node hashes the
    sorted concatenation of its two children; an odd node at the end of a level passes up
    unhashed (as Bouncy Castle builds it). Each reduced tree puts the leaf and its first
    sibling in the first list, then one sibling per list, so every list hashes two values:
    the root is the same whether a verifier passes single values up or not.
    A single leaf is its own root; its reduced tree is ((leaf,),).
    """
    alg = _check_build_algorithm(alg)
    if isinstance(leaves, bytes | bytearray | str) or not isinstance(leaves, Sequence):
        raise MalformedError("leaves must be a sequence of digests", type=type(leaves).__name__)
    if not leaves:
        raise MalformedError("a hash tree needs at least one leaf")
    values = [_check_digest(leaf, alg, f"leaves[{k}]") for k, leaf in enumerate(leaves)]
    order = sorted(range(len(values)), key=values.__getitem__)
    levels = [[values[k] for k in order]]
    while len(levels[-1]) > 1:
        level = levels[-1]
        levels.append(
            [
                _h(alg, *sorted(level[p : p + 2])) if p + 1 < len(level) else level[p]
                for p in range(0, len(level), 2)
            ]
        )
    trees: list[ReducedTree] = [()] * len(values)
    for position, k in enumerate(order):
        siblings: list[bytes] = []
        p = position
        for level in levels[:-1]:
            if p ^ 1 < len(level):
                siblings.append(level[p ^ 1])
            p //= 2
        leaf = values[k]
        if not siblings:
            trees[k] = ((leaf,),)
        else:
            first = tuple(sorted((leaf, siblings[0])))
            trees[k] = (first, *((s,) for s in siblings[1:]))
    return levels[-1][0], tuple(trees)


def _check_digest(value: object, alg: str, where: str) -> bytes:
    digest = _bytes(value, where)
    if len(digest) != _size(alg):
        raise MalformedError(f"{where} is not a {alg} digest", length=len(digest))
    return digest


def _check_tree(tree: Sequence[Sequence[bytes]] | None, alg: str) -> ReducedTree | None:
    if tree is None:
        return None
    if isinstance(tree, bytes | bytearray | str) or not isinstance(tree, Sequence) or not tree:
        raise MalformedError("reduced tree must be a non-empty sequence of hash lists")
    out = []
    for i, level in enumerate(tree):
        if isinstance(level, bytes | bytearray | str) or not isinstance(level, Sequence):
            raise MalformedError(f"reduced tree list {i} is not a sequence of hashes")
        if not level:
            raise MalformedError(f"reduced tree list {i} is empty")
        out.append(
            tuple(_check_digest(v, alg, f"reduced tree [{i}][{j}]") for j, v in enumerate(level))
        )
    return tuple(out)


def _require_token_algorithm(token: _Token, alg: str) -> None:
    if token.alg.name != alg:
        raise AlgorithmMismatchError(
            "the token's messageImprint uses another hash algorithm",
            expected=alg,
            found=token.alg.name,
        )


def _ats_der(token: _Token, tree: ReducedTree | None) -> bytes:
    """An ArchiveTimeStamp with digestAlgorithm [0] (the token's own AlgorithmIdentifier, so
    the two always agree), reducedHashtree [2] and the token as given. A tree of one list
    with one value is left out: the imprint is then the covered hash (RFC 4998 §4.2)."""
    alg_contents = algos.DigestAlgorithm.load(token.alg.der).contents
    parts = [parser.emit(2, 1, 0, alg_contents)]
    if tree is not None and not (len(tree) == 1 and len(tree[0]) == 1):
        lists = b"".join(
            _sequence(b"".join(parser.emit(0, 0, 4, value) for value in level)) for level in tree
        )
        parts.append(parser.emit(2, 1, 2, lists))
    parts.append(token.der)
    return _sequence(b"".join(parts))


def _check_new_ats(token: _Token, tree: ReducedTree | None, covers: bytes | None) -> None:
    covered = tree[0] if tree is not None else (token.imprint,)
    if covers is not None and covers not in covered:
        raise RenewalBrokenError(
            "the reduced tree does not cover the hash being renewed", expected=covers.hex()
        )
    if tree is not None:
        root = _reduce(tree, token.alg.name)
        if root != token.imprint:
            raise ImprintMismatchError(
                "reduced tree does not reduce to the token's messageImprint",
                expected=token.imprint.hex(),
                calculated=root.hex(),
            )


def _assemble(
    version_der: bytes,
    digest_algorithms: Sequence[bytes],
    optional_der: bytes,
    chains: Sequence[bytes],
) -> bytes:
    der = _record_der(version_der, digest_algorithms, optional_der, chains)
    _read(der)  # what we hand out must parse back
    return der


def new_evidence_record(
    reduced_tree: Sequence[Sequence[bytes]] | None, token_der: bytes, alg: str
) -> bytes:
    """A new EvidenceRecord (RFC 4998 §5.1, version 1): one chain of one ArchiveTimeStamp over
    `token_der` (a TimeStampToken ContentInfo whose imprint is the root of `reduced_tree`,
    under `alg`). With `reduced_tree` None the imprint is the data object's hash itself.
    Raises ImprintMismatchError, AlgorithmMismatchError, UnsupportedAlgorithmError or
    MalformedError instead of building a record that would not verify."""
    alg = _check_build_algorithm(alg)
    tree = _check_tree(reduced_tree, alg)
    token = _read_token(token_der)
    _require_token_algorithm(token, alg)
    _check_new_ats(token, tree, None)
    chain = _sequence(_ats_der(token, tree))
    return _assemble(b"\x02\x01\x01", [token.alg.der], b"", [chain])


def _last_chain_algorithm(record: _Record) -> str:
    return _check_build_algorithm(record.chains[-1][0].alg.name)


def timestamp_renewal_input(er_der: bytes) -> bytes:
    """RFC 4998 §5.2: the hash a timestamp renewal must cover, H(the last ATS's timeStamp
    ContentInfo as stored), H the algorithm of the last chain. Put it in a hash tree (or
    timestamp it directly) and pass the token to `renew_timestamp`."""
    record = _read(er_der)
    alg = _last_chain_algorithm(record)
    return _h(alg, record.chains[-1][-1].token.der)


def renew_timestamp(
    er_der: bytes, token_der: bytes, reduced_tree: Sequence[Sequence[bytes]] | None = None
) -> bytes:
    """RFC 4998 §5.2 timestamp renewal: append an ArchiveTimeStamp to the last chain.
    `token_der` timestamps the root of `reduced_tree`, whose first list holds
    `timestamp_renewal_input(er_der)`; with no tree the token's imprint is that input.
    The token must use the chain's hash algorithm."""
    record = _read(er_der)
    alg = _last_chain_algorithm(record)
    tree = _check_tree(reduced_tree, alg)
    token = _read_token(token_der)
    _require_token_algorithm(token, alg)
    last = record.chains[-1]
    _check_new_ats(token, tree, _h(alg, last[-1].token.der))
    chains = [_chain_der(chain) for chain in record.chains[:-1]]
    chains.append(_sequence(b"".join(ats.der for ats in last) + _ats_der(token, tree)))
    return _assemble(
        record.version_der,
        [a.der for a in record.digest_algorithms],
        record.optional_der,
        chains,
    )


def hash_tree_renewal_input(er_der: bytes, data_digest_new_alg: bytes, alg: str) -> bytes:
    """RFC 4998 §5.2 hash-tree renewal: the hash the new chain must cover for one data object,
    H(h(d) || H(ATSSeq)), with H = `alg` (the new algorithm), h(d) = `data_digest_new_alg`
    (the data object hashed anew with `alg`) and ATSSeq the DER of the record's current
    ArchiveTimeStampSequence. Unsorted concatenation, as EU DSS and Bouncy Castle compute it.
    Put these in a hash tree and pass its token to `renew_hash_tree`."""
    alg = _check_build_algorithm(alg)
    digest = _check_digest(data_digest_new_alg, alg, "data digest")
    record = _read(er_der)
    return _h(alg, digest, _h(alg, _ats_sequence_der(record.chains)))


def renew_hash_tree(
    er_der: bytes,
    token_der: bytes,
    alg: str,
    reduced_tree: Sequence[Sequence[bytes]] | None = None,
) -> bytes:
    """RFC 4998 §5.2 hash-tree renewal: append a new chain whose one ArchiveTimeStamp carries
    `token_der` over the root of `reduced_tree` (first list: `hash_tree_renewal_input` of
    each data object of this record), under `alg`; `alg` joins digestAlgorithms. Coverage of
    the data objects cannot be checked here (the data is not given): `verify_binding` does."""
    alg = _check_build_algorithm(alg)
    record = _read(er_der)
    tree = _check_tree(reduced_tree, alg)
    token = _read_token(token_der)
    _require_token_algorithm(token, alg)
    _check_new_ats(token, tree, None)
    chains = [_chain_der(chain) for chain in record.chains]
    chains.append(_sequence(_ats_der(token, tree)))
    algorithms = [a.der for a in record.digest_algorithms]
    if token.alg.oid not in {a.oid for a in record.digest_algorithms}:
        algorithms.append(token.alg.der)  # RFC 4998 §4.1: the union of all ATS algorithms
    return _assemble(record.version_der, algorithms, record.optional_der, chains)
