"""verifiers.ers builders, round-tripped with real RFC 3161 tokens.

A throwaway TSA (EC P-256 CA and TSA certificates, made with `cryptography`, the TSA's with a
critical extendedKeyUsage of timeStamping only) signs tokens with `openssl ts -reply`. The
life of five evidence records: three data objects under one token and two under their own,
then two timestamp renewals (one hash tree over every record's last token), a hash-tree
renewal to SHA-512 and one more timestamp renewal in the new chain. Every stage must bind its
data, `openssl ts -verify` must accept every embedded token for the hash we computed, and
tampering with the record or the data must never go unnoticed.

Needs the `openssl` command (OpenSSL 3). Without it the tests skip, unless CI is set or
STELE_REQUIRE_OPENSSL=1, when they fail.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import random
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from asn1crypto import cms
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from verifiers.errors import MalformedError, VerificationError
from verifiers.ers import (
    BUILD_ALGORITHMS,
    AlgorithmMismatchError,
    BindingReport,
    ImprintMismatchError,
    RenewalBrokenError,
    UnsupportedAlgorithmError,
    hash_tree,
    hash_tree_renewal_input,
    new_evidence_record,
    parse_evidence_record,
    renew_hash_tree,
    renew_timestamp,
    timestamp_renewal_input,
    verify_binding,
)
from verifiers.report import Verdict

# The data objects: signed checkpoint notes, as the ledger would anchor them.
DATA = tuple(
    f"stele.example/log\n{size}\n{hashlib.sha256(str(size).encode()).hexdigest()}\n".encode()
    for size in (3, 17, 256, 1024, 4096)
)
GROUP = 3  # DATA[:GROUP] share the first token; the others get one each
_OPENSSL_DIGEST = {"sha3_256": "sha3-256", "sha3_512": "sha3-512"}


def _h(alg: str, data: bytes) -> bytes:
    return hashlib.new(alg, data).digest()


# --- A throwaway TSA ----------------------------------------------------------------------


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _usage(*, sign: bool, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


@dataclass
class Tsa:
    """Signs RFC 3161 tokens with `openssl ts -reply`; checks them with `openssl ts -verify`."""

    directory: Path
    openssl: str
    _serial: Callable[[], int] = field(default_factory=lambda: itertools.count(1).__next__)

    @property
    def ca(self) -> Path:
        return self.directory / "ca.pem"

    def _run(self, *args: str | Path) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([self.openssl, *map(str, args)], capture_output=True, check=False)

    def stamp(self, digest: bytes, alg: str) -> bytes:
        """A TimeStampToken (ContentInfo, DER) over `digest` under `alg`."""
        n = self._serial()
        query, token = self.directory / f"q{n}.tsq", self.directory / f"t{n}.der"
        option = "-" + _OPENSSL_DIGEST.get(alg, alg)
        done = self._run("ts", "-query", "-digest", digest.hex(), option, "-cert", "-no_nonce",
                         "-out", query)  # fmt: skip
        assert done.returncode == 0, done.stderr.decode()
        done = self._run("ts", "-reply", "-config", self.directory / "tsa.cnf", "-queryfile",
                         query, "-token_out", "-out", token)  # fmt: skip
        assert done.returncode == 0, done.stderr.decode()
        return token.read_bytes()

    def verify(self, token: bytes, digest: bytes) -> bool:
        """`openssl ts -verify`: signature, ESS certificate ID, critical timeStamping EKU,
        the chain to our CA, and the imprint equal to `digest`."""
        path = self.directory / f"v{self._serial()}.der"
        path.write_bytes(token)
        done = self._run("ts", "-verify", "-digest", digest.hex(), "-in", path, "-token_in",
                         "-CAfile", self.ca)  # fmt: skip
        return done.returncode == 0


def make_tsa(directory: Path) -> Tsa:
    """A CA and a TSA certificate (critical EKU timeStamping), and an openssl TSA config."""
    openssl = shutil.which("openssl")
    if openssl is None:
        message = "`openssl` is not on PATH: apt-get install -y openssl"
        if os.environ.get("CI") or os.environ.get("STELE_REQUIRE_OPENSSL") == "1":
            pytest.fail(message)
        pytest.skip(message)
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    tsa_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("Stele test CA"))
        .issuer_name(_name("Stele test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_usage(sign=False, ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    tsa = (
        x509.CertificateBuilder()
        .subject_name(_name("Stele test TSA"))
        .issuer_name(ca.subject)
        .public_key(tsa_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(sign=True, ca=False), critical=True)
        # RFC 3161 §2.3: the TSA certificate's only extendedKeyUsage is timeStamping, critical.
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    (directory / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (directory / "tsa.pem").write_bytes(tsa.public_bytes(serialization.Encoding.PEM))
    (directory / "tsa.key").write_bytes(
        tsa_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    (directory / "serial").write_text("01\n")
    (directory / "tsa.cnf").write_text(
        "[ tsa ]\n"
        "default_tsa = stele_tsa\n"
        "[ stele_tsa ]\n"
        f"dir = {directory}\n"
        "serial = $dir/serial\n"
        "crypto_device = builtin\n"
        "signer_cert = $dir/tsa.pem\n"
        "signer_key = $dir/tsa.key\n"
        "signer_digest = sha256\n"
        "default_policy = 1.3.6.1.4.1.4146.2.3\n"
        "digests = sha256, sha384, sha512, sha3-256, sha3-512\n"
        "accuracy = secs:1\n"
        "ordering = yes\n"
        "tsa_name = yes\n"
        "ess_cert_id_chain = no\n"
        "ess_cert_id_alg = sha256\n"
    )
    return Tsa(directory, openssl)


# --- The life of five evidence records ---------------------------------------------------


@dataclass
class Lifecycle:
    """Each stage's records (one per data object), and for each record the hash each of its
    tokens was made over, in ATS order."""

    stages: dict[str, list[bytes]]
    stamped: list[list[tuple[str, bytes]]]

    @property
    def final(self) -> list[bytes]:
        return self.stages["renewed-sha512"]


def _renew_timestamps(
    tsa: Tsa, alg: str, records: list[bytes], stamped: list[list[tuple[str, bytes]]]
) -> list[bytes]:
    """One hash tree over every record's renewal input (RFC 4998 §5.2), one token."""
    inputs = [timestamp_renewal_input(er) for er in records]
    unique = sorted(set(inputs))  # records sharing a last token share an input
    root, trees = hash_tree(unique, alg)
    token = tsa.stamp(root, alg)
    out = []
    for k, (er, value) in enumerate(zip(records, inputs, strict=True)):
        out.append(renew_timestamp(er, token, trees[unique.index(value)]))
        stamped[k].append((alg, root))
    return out


def run_lifecycle(tsa: Tsa) -> Lifecycle:
    stages: dict[str, list[bytes]] = {}
    stamped: list[list[tuple[str, bytes]]] = [[] for _ in DATA]

    # Initial archive timestamps (RFC 4998 §5.1): a group of three under one token, then two
    # records whose token covers the data object's hash directly (no reducedHashtree).
    leaves = [_h("sha256", d) for d in DATA[:GROUP]]
    root, trees = hash_tree(leaves, "sha256")
    token = tsa.stamp(root, "sha256")
    records = [new_evidence_record(tree, token, "sha256") for tree in trees]
    for k in range(GROUP):
        stamped[k].append(("sha256", root))
    for k, data in enumerate(DATA[GROUP:], start=GROUP):
        token = tsa.stamp(_h("sha256", data), "sha256")
        records.append(new_evidence_record(None, token, "sha256"))
        stamped[k].append(("sha256", _h("sha256", data)))
    stages["initial"] = records

    # Two timestamp renewals: after the first, every record has the same last token, so the
    # second tree has one leaf and its archive timestamps carry no reducedHashtree.
    stages["renewed-1"] = records = _renew_timestamps(tsa, "sha256", records, stamped)
    stages["renewed-2"] = records = _renew_timestamps(tsa, "sha256", records, stamped)

    # Hash-tree renewal to SHA-512 (RFC 4998 §5.2): a new chain over H(h(d) || h(ATSSeq)).
    inputs = [
        hash_tree_renewal_input(er, _h("sha512", d), "sha512")
        for er, d in zip(records, DATA, strict=True)
    ]
    root, trees = hash_tree(inputs, "sha512")
    token = tsa.stamp(root, "sha512")
    records = [
        renew_hash_tree(er, token, "sha512", tree) for er, tree in zip(records, trees, strict=True)
    ]
    for k in range(len(DATA)):
        stamped[k].append(("sha512", root))
    stages["rehashed-sha512"] = records

    # And a timestamp renewal within the new chain.
    stages["renewed-sha512"] = _renew_timestamps(tsa, "sha512", records, stamped)
    return Lifecycle(stages, stamped)


@pytest.fixture(scope="module")
def tsa(tmp_path_factory: pytest.TempPathFactory) -> Tsa:
    return make_tsa(tmp_path_factory.mktemp("tsa"))


@pytest.fixture(scope="module")
def life(tsa: Tsa) -> Lifecycle:
    return run_lifecycle(tsa)


def _bound(er: bytes, data: Sequence[bytes]) -> bool:
    try:
        return verify_binding(er, data).bound
    except MalformedError:
        return False


# --- Round trips --------------------------------------------------------------------------

EXPECTED_CHAINS = {
    "initial": [1],
    "renewed-1": [2],
    "renewed-2": [3],
    "rehashed-sha512": [3, 1],
    "renewed-sha512": [3, 2],
}


@pytest.mark.parametrize("stage", EXPECTED_CHAINS)
def test_every_stage_binds_its_data(life: Lifecycle, stage: str) -> None:
    for k, (er, data) in enumerate(zip(life.stages[stage], DATA, strict=True)):
        report = verify_binding(er, [data])
        assert report.bound, [c.line() for c in report.failures]
        report.raise_for_failure()
        assert report.as_report().bottom_line is Verdict.PASSED
        chains = EXPECTED_CHAINS[stage]
        assert len(report.entries) == sum(chains)
        assert [e.chain for e in report.entries] == [
            i for i, n in enumerate(chains) for _ in range(n)
        ]
        assert [e.digest_algorithm for e in report.entries] == [
            "sha256" if e.chain == 0 else "sha512" for e in report.entries
        ]
        kinds = [e.kind for e in report.entries]
        assert kinds[0] == "initial"
        assert kinds[1:] == [
            "hashtree-renewal" if e.position == 0 else "timestamp-renewal"
            for e in report.entries[1:]
        ]
        assert all(e.imprint_matched for e in report.entries)
        assert [e.imprint for e in report.entries] == [h for _, h in life.stamped[k][: len(kinds)]]
        times = [t for _, t in report.timestamps()]
        assert times == sorted(times)
        # The record keeps what was built, and parsing gives the same bytes back.
        assert parse_evidence_record(er).dump() == er


@pytest.mark.parametrize("stage", EXPECTED_CHAINS)
def test_every_stage_binds_by_digest(life: Lifecycle, stage: str) -> None:
    algs = ("sha256", "sha512") if stage.endswith("sha512") else ("sha256",)
    for er, data in zip(life.stages[stage], DATA, strict=True):
        assert verify_binding(er, digests=[{a: _h(a, data) for a in algs}]).bound
        # A bare digest is under the first chain's algorithm; enough only before SHA-512.
        report = verify_binding(er, digests=[_h("sha256", data)])
        assert report.bound is (len(algs) == 1)


def test_a_group_record_binds_the_group(life: Lifecycle) -> None:
    """RFC 4998 §4.2: a record's first hash list may hold its sibling too: the pair of the
    first two sorted leaves are each bound by either record (a data group)."""
    records = life.stages["initial"][:GROUP]
    leaves = sorted(range(GROUP), key=lambda k: _h("sha256", DATA[k]))
    pair = [DATA[k] for k in leaves[:2]]
    for k in leaves[:2]:
        assert verify_binding(records[k], pair).bound
    assert not verify_binding(records[leaves[2]], pair).bound


def test_data_not_covered_is_not_bound(life: Lifecycle) -> None:
    for er, data in zip(life.final, DATA, strict=True):
        report = verify_binding(er, [data, b"a record that was never anchored"])
        assert not report.bound
        codes = {(c.name.split(".")[1], c.code) for c in report.failures}
        assert codes == {("chain[0]", "ers_not_bound"), ("chain[1]", "ers_renewal_broken")}
        with pytest.raises(VerificationError) as caught:
            report.raise_for_failure()
        assert caught.value.code == "ers_not_bound"
    assert not verify_binding(life.final[0], []).bound
    assert not verify_binding(life.final[0]).bound


def test_sha512_chain_needs_the_sha512_digest(life: Lifecycle) -> None:
    report = verify_binding(life.final[0], digests=[{"sha256": _h("sha256", DATA[0])}])
    assert not report.bound
    [failure] = report.failures
    assert failure.verdict is Verdict.INDETERMINATE  # could not decide: not "forged"
    assert failure.code == "ers_not_bound"
    assert failure.name == "ers.chain[1].ats[0].data[0]"


def test_openssl_accepts_every_embedded_token(life: Lifecycle, tsa: Tsa) -> None:
    """Each token we embedded verifies with `openssl ts -verify` for the hash we built it
    over (for the first ATS, the reduced root), and fails for any other hash."""
    for k in (0, GROUP):
        report = verify_binding(life.final[k], [DATA[k]])
        stamps = report.timestamps()
        assert len(stamps) == len(life.stamped[k]) == 5
        for (token, _), (alg, digest) in zip(stamps, life.stamped[k], strict=True):
            assert tsa.verify(token, digest), (k, alg)
            assert not tsa.verify(token, _h(alg, digest))


@pytest.mark.parametrize("alg", BUILD_ALGORITHMS)
def test_each_build_algorithm_round_trips(tsa: Tsa, alg: str) -> None:
    leaves = [_h(alg, d) for d in DATA]
    root, trees = hash_tree(leaves, alg)
    token = tsa.stamp(root, alg)
    assert tsa.verify(token, root)
    for tree, data in zip(trees, DATA, strict=True):
        er = new_evidence_record(tree, token, alg)
        report = verify_binding(er, [data])
        assert report.bound, [c.line() for c in report.failures]
        assert report.entries[0].digest_algorithm == alg
        renewed = renew_timestamp(er, tsa.stamp(timestamp_renewal_input(er), alg))
        assert verify_binding(renewed, [data]).bound


# --- Tampering ----------------------------------------------------------------------------


def _token_spans(er: bytes, report: BindingReport) -> list[tuple[int, int]]:
    spans = []
    for token, _ in report.timestamps():
        start = er.index(token)
        spans.append((start, start + len(token)))
    return spans


def _flipped(data: bytes, position: int) -> bytes:
    return data[:position] + bytes([data[position] ^ 0x01]) + data[position + 1 :]


def test_flipping_a_bit_of_the_record_unbinds_it(life: Lifecycle) -> None:
    """One flipped bit and the record no longer binds (or no longer parses): at every byte
    outside the tokens (structure, algorithms, hash trees), every byte of the newest token's
    imprint, and every third byte of the older tokens (each covered by a later hash)."""
    er, data = life.final[0], DATA[0]
    report = verify_binding(er, [data])
    *older, (newest_start, newest_end) = _token_spans(er, report)
    imprint = report.entries[-1].imprint
    imprint_at = er.index(imprint, newest_start, newest_end)
    in_token = [range(start, end) for start, end in [*older, (newest_start, newest_end)]]
    positions = [p for p in range(len(er)) if not any(p in span for span in in_token)]
    assert len(positions) > 300
    positions += range(imprint_at, imprint_at + len(imprint))
    positions += [p for start, end in older for p in range(start, end, 3)]
    survivors = [p for p in positions if _bound(_flipped(er, p), [data])]
    assert survivors == []


def test_flipping_the_newest_token_is_caught_by_its_signature(life: Lifecycle, tsa: Tsa) -> None:
    """The newest token is covered by no hash in the record: its TSA signature protects it,
    checked when the TSA certificates are validated (a later step than verify_binding).
    Bits of its TSTInfo and of its signature, flipped: openssl rejects the token."""
    er = life.final[0]
    report = verify_binding(er, [DATA[0]])
    token = report.timestamps()[-1][0]
    digest = life.stamped[0][-1][1]
    signed = cms.ContentInfo.load(token)["content"]
    tst_info = signed["encap_content_info"]["content"].contents
    signature = signed["signer_infos"][0]["signature"].contents
    rng = random.Random(4998)
    for part in (tst_info, signature):
        start = token.index(part)
        for position in rng.sample(range(start, start + len(part)), 12):
            assert not tsa.verify(_flipped(token, position), digest), position


def test_flipping_a_bit_of_the_data_unbinds_it(life: Lifecycle) -> None:
    for er, data in zip(life.final, DATA, strict=True):
        for position in range(0, len(data), max(1, len(data) // 64)):
            assert not _bound(er, [_flipped(data, position)])
        assert not _bound(er, [data + b"\n"])
        assert not _bound(er, [data[:-1]])


def test_damaged_records_raise_only_malformed(life: Lifecycle) -> None:
    er = life.stages["renewed-1"][0]
    for cut in range(len(er)):
        with pytest.raises(MalformedError):
            verify_binding(er[:cut], [DATA[0]])
    for tail in (b"\x00", b"\x30\x00", er):
        with pytest.raises(MalformedError):
            parse_evidence_record(er + tail)
    for bad in ("not bytes", None, 42):
        with pytest.raises(MalformedError):
            verify_binding(bad, [DATA[0]])  # type: ignore[arg-type]
    with pytest.raises(MalformedError):
        verify_binding(er, DATA[0])  # type: ignore[arg-type]  # bytes, not a sequence
    with pytest.raises(MalformedError):
        verify_binding(er, digests=[{"sha256": b"short"}])
    with pytest.raises(MalformedError):
        verify_binding(er, digests=[{"md5": hashlib.md5(DATA[0]).digest()}])


def test_structural_rules_at_the_door(life: Lifecycle) -> None:
    er = life.stages["initial"][GROUP]
    # RFC 4998 §4.1: version v1 only (the record starts SEQUENCE, INTEGER 1).
    assert er[4:7] == b"\x02\x01\x01"
    with pytest.raises(MalformedError, match="version"):
        parse_evidence_record(er[:6] + b"\x02" + er[7:])
    # A non-minimal length is not DER: the hashes of RFC 4998 §5.2 are over DER as stored.
    record = parse_evidence_record(er)
    sequence = record["archive_time_stamp_sequence"].dump()
    long_form = b"\x30\x84" + len(sequence[4:]).to_bytes(4, "big") + sequence[4:]
    assert sequence[:2] == b"\x30\x82"
    stretched = record["version"].dump() + record["digest_algorithms"].dump() + long_form
    body = b"\x30\x82" + len(stretched).to_bytes(2, "big") + stretched
    with pytest.raises(MalformedError, match="DER"):
        parse_evidence_record(body)
    # A timeStamp that is not a TSTInfo SignedData (RFC 3161 §2.4.2).
    token = cms.ContentInfo.load(verify_binding(er, [DATA[GROUP]]).timestamps()[0][0])
    token["content"]["encap_content_info"] = {"content_type": "data", "content": b"x"}
    with pytest.raises(MalformedError, match="TSTInfo"):
        new_evidence_record(None, token.dump(force=True), "sha256")
    data = cms.ContentInfo({"content_type": "data", "content": b"x"}).dump()
    with pytest.raises(MalformedError, match="SignedData"):
        new_evidence_record(None, data, "sha256")


# --- Builders refuse what would not verify ------------------------------------------------


def test_builders_refuse_inconsistent_input(life: Lifecycle, tsa: Tsa) -> None:
    leaves = [_h("sha256", d) for d in DATA]
    root, trees = hash_tree(leaves, "sha256")
    token = tsa.stamp(root, "sha256")
    other_root, other_trees = hash_tree(leaves[1:], "sha256")
    with pytest.raises(ImprintMismatchError) as caught:
        new_evidence_record(other_trees[0], token, "sha256")
    assert caught.value.evidence["expected"] == root.hex()
    assert caught.value.evidence["calculated"] == other_root.hex()
    sha512_tree = hash_tree([_h("sha512", d) for d in DATA], "sha512")[1][0]
    with pytest.raises(AlgorithmMismatchError):
        new_evidence_record(sha512_tree, token, "sha512")
    for alg in ("sha1", "md5", "sha224", "SHA256", None):
        with pytest.raises(UnsupportedAlgorithmError):
            new_evidence_record(trees[0], token, alg)  # type: ignore[arg-type]
    for garbage in (b"", b"\x30\x00", token + b"\x00", token[:-1], "text"):
        with pytest.raises(MalformedError):
            new_evidence_record(trees[0], garbage, "sha256")  # type: ignore[arg-type]
    bad_trees: list[object] = [[], [[]], [[b"short"]], b"flat", [b"flat"]]
    for tree in bad_trees:
        with pytest.raises(MalformedError):
            new_evidence_record(tree, token, "sha256")  # type: ignore[arg-type]

    er = life.stages["renewed-2"][0]
    # A timestamp renewal whose token does not cover the previous timestamp.
    with pytest.raises(RenewalBrokenError):
        renew_timestamp(er, token, trees[0])
    with pytest.raises(RenewalBrokenError):
        renew_timestamp(er, token)
    # ... or is made with another algorithm than the chain's (RFC 4998 §5.2).
    sha512_token = tsa.stamp(_h("sha512", timestamp_renewal_input(er)), "sha512")
    with pytest.raises(AlgorithmMismatchError):
        renew_timestamp(er, sha512_token)
    # A hash-tree renewal whose tree does not reduce to its token's imprint.
    with pytest.raises(ImprintMismatchError):
        renew_hash_tree(er, sha512_token, "sha512", [[_h("sha512", b"x"), _h("sha512", b"y")]])
    with pytest.raises(AlgorithmMismatchError):
        renew_hash_tree(er, token, "sha512")
    with pytest.raises(MalformedError):
        hash_tree_renewal_input(er, _h("sha256", DATA[0]), "sha512")
    with pytest.raises(MalformedError):
        renew_timestamp(er[:-1], token)


def test_a_renewal_that_skips_the_data_is_not_bound(life: Lifecycle, tsa: Tsa) -> None:
    """renew_hash_tree cannot see the data; verify_binding then says the new chain does not
    cover it (RFC 4998 §5.3 step 3)."""
    er = life.stages["renewed-2"][0]
    wrong = hash_tree_renewal_input(er, _h("sha512", DATA[1]), "sha512")
    renewed = renew_hash_tree(er, tsa.stamp(wrong, "sha512"), "sha512")
    report = verify_binding(renewed, [DATA[0]])
    assert not report.bound
    assert [(c.name, c.code) for c in report.failures] == [
        ("ers.chain[1].ats[0].data[0]", "ers_renewal_broken")
    ]
    # Right: the data object's own input, timestamped directly.
    right = hash_tree_renewal_input(er, _h("sha512", DATA[0]), "sha512")
    assert verify_binding(
        renew_hash_tree(er, tsa.stamp(right, "sha512"), "sha512"), [DATA[0]]
    ).bound


# --- The hash tree against a naive reference ----------------------------------------------


def _naive_root(leaves: list[bytes], alg: str) -> bytes:
    """Bouncy Castle's BinaryTreeRootCalculator, written the plain way: sort the leaves, hash
    sorted pairs left to right, carry an odd last node up."""
    level = sorted(leaves)
    while len(level) > 1:
        pairs = [level[i : i + 2] for i in range(0, len(level), 2)]
        level = [_h(alg, b"".join(sorted(p))) if len(p) == 2 else p[0] for p in pairs]
    return level[0]


def _literal_root(tree: Sequence[Sequence[bytes]], alg: str) -> bytes:
    """RFC 4998 §4.3 read literally: every list is hashed, even a single value."""
    node = b""
    for i, level in enumerate(tree):
        node = _h(alg, b"".join(sorted([*level, node] if i else [*level])))
    return node


@pytest.mark.parametrize("alg", ["sha256", "sha3_512"])
def test_hash_tree_matches_naive_reference(alg: str) -> None:
    rng = random.Random(4998)
    for n in [*range(1, 34), 64, 100]:
        leaves = [_h(alg, rng.randbytes(8)) for _ in range(n)]
        if n > 4:
            leaves[3] = leaves[1]  # a data object archived twice
        root, trees = hash_tree(leaves, alg)
        assert root == _naive_root(leaves, alg)
        assert len(trees) == n
        for leaf, tree in zip(leaves, trees, strict=True):
            assert leaf in tree[0]
            if n == 1:
                assert tree == ((leaf,),)
                continue
            # Two values in the first list, one in each next: the root is the same whether a
            # verifier passes single values up (EU DSS, Bouncy Castle) or not (RFC literal).
            assert len(tree[0]) == 2
            assert all(len(level) == 1 for level in tree[1:])
            assert _literal_root(tree, alg) == root


def test_hash_tree_refuses_bad_leaves() -> None:
    for leaves in ([], [b"short"], b"flat", [_h("sha512", b"x")]):
        with pytest.raises(MalformedError):
            hash_tree(leaves, "sha256")  # type: ignore[arg-type]
    with pytest.raises(UnsupportedAlgorithmError):
        hash_tree([_h("sha1", b"x")], "sha1")
