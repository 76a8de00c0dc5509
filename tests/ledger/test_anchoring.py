"""Anchoring and long-term evidence: every checkpoint timestamped, evidence records kept and
renewed, and the proof still holding decades later (time travel through `at`)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ledger.config import Settings
from ledger.dev.tsa import LocalTsa, TimeStampAuthority, load_or_create
from ledger.longterm.anchoring import Anchorer, AnchorPolicy, note_digest
from ledger.longterm.renewal import due, renew
from ledger.longterm.tsa_client import HttpTsa
from ledger.service import Ledger
from tests.ledger.builders import AGENCY, create
from tests.ledger.tsa_fixtures import openssl_tsa
from tests.verifiers.test_ers_bouncycastle import bc  # noqa: F401 - the fixture
from verifiers.evidence import verify_evidence_record
from verifiers.report import Verdict


def _der(pem: bytes) -> list[bytes]:
    return [c.public_bytes(serialization.Encoding.DER)
            for c in x509.load_pem_x509_certificates(pem)]


def _dev_root(settings: Settings) -> list[bytes]:
    return [load_or_create(settings.data_dir / "tsa").root.public_bytes(
        serialization.Encoding.DER)]


def _write(ledger: Ledger, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        rid = create(ledger, i)
        ledger.records.do(AGENCY, "record.hold.place", record=rid, hold="H", reason="r")


def test_every_checkpoint_with_events_is_anchored_and_logged(settings: Settings) -> None:
    with Ledger(settings) as ledger:
        _write(ledger, 3)
        ledger.log.sync()
        _write(ledger, 2, start=10)
        ledger.log.sync()
        with ledger.store.transaction() as tx:
            checkpoints = {s: note for s, _, note, _ in tx.checkpoints()}
            stamped = {s for s, _, _ in tx.evidence_records()}
        assert stamped == {6, 11}  # not the checkpoints of anchor entries alone
        roots = _dev_root(settings)
        for size in stamped:
            with ledger.store.transaction() as tx:
                assert len(tx.timestamps(size)) == 1
                record = next(r for s, _, r in tx.evidence_records() if s == size)
            report = verify_evidence_record(record, data=checkpoints[size].encode(),
                                            trust_roots=roots, at=datetime.now(UTC))
            assert report.bottom_line is Verdict.PASSED, [c.line() for c in report.failures]
        # The anchor entries are leaves, covered by the last checkpoint; the audit holds.
        latest = ledger.checkpointer.latest()
        assert latest is not None and latest.size == ledger.log.size() == 12
        kinds = [leaf.rsplit(b'"type":"', 1)[1].split(b'"')[0]
                 for _, leaf in ledger.log.leaves(0, latest.size)]
        assert kinds.count(b"log.anchored") == 2
        assert ledger.log.audit().bottom_line is Verdict.PASSED
        assert ledger.longterm.anchoring_status()["waiting"] == []


def test_openssl_accepts_every_stored_token_over_its_note(settings: Settings,
                                                           tmp_path: Path) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        if os.environ.get("CI") or os.environ.get("STELE_REQUIRE_OPENSSL") == "1":
            pytest.fail("openssl is required here")
        pytest.skip("openssl not installed")
    with Ledger(settings) as ledger:
        _write(ledger, 2)
        ledger.log.sync()
        identity = load_or_create(settings.data_dir / "tsa")
        pem = serialization.Encoding.PEM
        (tmp_path / "root.pem").write_bytes(identity.root.public_bytes(pem))
        (tmp_path / "tsa.pem").write_bytes(identity.cert.public_bytes(pem))
        with ledger.store.transaction() as tx:
            notes = {s: note for s, _, note, _ in tx.checkpoints()}
            tokens = [(s, tok) for s in notes for _, tok, _ in tx.timestamps(s)]
    assert tokens
    for size, token in tokens:
        (tmp_path / "note").write_text(notes[size])
        (tmp_path / "token").write_bytes(token)
        done = subprocess.run(
            [openssl, "ts", "-verify", "-data", str(tmp_path / "note"), "-in",
             str(tmp_path / "token"), "-token_in", "-CAfile", str(tmp_path / "root.pem"),
             "-untrusted", str(tmp_path / "tsa.pem")], capture_output=True, text=True)
        assert "Verification: OK" in done.stdout, done.stderr


def test_a_tsa_that_is_down_never_blocks_writes(settings: Settings) -> None:
    with Ledger(settings) as ledger:
        down = AnchorPolicy([HttpTsa("http://127.0.0.1:1/")], 1, _dev_root(settings))
        ledger.longterm._anchorer = Anchorer(ledger.store, ledger.longterm._save, down,
                                             settings.origin,
                                    ledger.longterm.anchorer.actor, ledger.clock)
        _write(ledger, 2)
        ledger.log.sync()  # writes, integration and checkpoints go on
        assert ledger.longterm.anchoring_status()["waiting"] == [4]
        _write(ledger, 1, start=5)
        ledger.log.sync()
        assert ledger.longterm.anchoring_status()["waiting"] == [4, 6]
        # The TSA is back: the backlog is anchored, oldest first.
        up = AnchorPolicy([LocalTsa(TimeStampAuthority(load_or_create(
            settings.data_dir / "tsa")))], 1, _dev_root(settings))
        ledger.longterm._anchorer = Anchorer(ledger.store, ledger.longterm._save, up,
                                             settings.origin,
                                    ledger.longterm.anchorer.actor, ledger.clock)
        assert [a.size for a in ledger.longterm.anchor()] == [4, 6]
        assert ledger.longterm.anchoring_status()["waiting"] == []


def test_k_of_n_tokens_from_two_independent_tsas(settings: Settings) -> None:
    with openssl_tsa() as other, Ledger(settings) as ledger:
        policy = AnchorPolicy(
            [LocalTsa(TimeStampAuthority(load_or_create(settings.data_dir / "tsa"))),
             HttpTsa(other.url)], 2, _dev_root(settings) + _der(other.root_pem))
        ledger.longterm._anchorer = Anchorer(ledger.store, ledger.longterm._save, policy,
                                             settings.origin,
                                    ledger.longterm.anchorer.actor, ledger.clock)
        _write(ledger, 2)
        ledger.log.sync()
        with ledger.store.transaction() as tx:
            assert sorted(t for t, _, _ in tx.timestamps(4)) == sorted(
                ["builtin:stele-dev-tsa", other.url])
        assert ledger.log.audit().bottom_line is Verdict.PASSED


def test_a_stored_token_missing_from_the_log_is_logged_once(settings: Settings) -> None:
    with Ledger(settings) as ledger:
        _write(ledger, 1)
        ledger.log.sync(anchor=False)
        anchorer = ledger.longterm.anchorer
        anchorer._anchor(2, ledger.checkpointer.at(2).note,  # crash after storing the token
                         lambda: True)
        ledger.longterm.anchor()
        ledger.longterm.anchor()
        ledger.log.integrate()
        kinds = [leaf for _, leaf in ledger.log.leaves(0, ledger.log.size())
                 if b'"type":"log.anchored"' in leaf]
        assert len(kinds) == 1


def test_the_long_term_scenario_renewal_keeps_the_proof_alive(settings: Settings) -> None:
    """The first TSA's certificate expires in 5 years; a second TSA (20 years) renews the
    evidence before that. Ten and thirty years on, every original certificate has expired."""
    now = datetime.now(UTC)
    with openssl_tsa(years=20) as second, Ledger(settings) as ledger:
        _write(ledger, 2)
        ledger.log.sync()
        with ledger.store.transaction() as tx:
            (size, tsa, record), = tx.evidence_records()
        note = ledger.checkpointer.at(size).note.encode()  # type: ignore[union-attr]
        roots = _dev_root(settings) + _der(second.root_pem)

        def verdict(er: bytes, years: int) -> Verdict:
            report = verify_evidence_record(er, data=note, trust_roots=roots,
                                            at=now + timedelta(days=365 * years))
            return report.bottom_line

        assert verdict(record, 0) is Verdict.PASSED
        assert verdict(record, 10) is Verdict.INDETERMINATE  # the TSA certificate expired
        # Renewal is due within the 2-year margin of the first TSA's expiry (5 years).
        assert due(ledger.longterm.anchorer, timedelta(days=365 * 6)) == [
            (size, tsa, due(ledger.longterm.anchorer, timedelta(days=365 * 6))[0][2])]
        # not yet within 2 years
        assert due(ledger.longterm.anchorer, ledger.longterm.renewal_margin) == []
        ledger.longterm._anchorer = Anchorer(
            ledger.store, ledger.longterm._save, AnchorPolicy([HttpTsa(second.url)], 1, roots),
            settings.origin, ledger.longterm.anchorer.actor, ledger.clock)
        done = renew(ledger.longterm.anchorer, reason="first TSA certificate expires in 5 years")
        assert done.records == 1
        with ledger.store.transaction() as tx:
            (_, _, renewed), = tx.evidence_records()
        for years in (0, 10, 19):
            assert verdict(renewed, years) is Verdict.PASSED, years
        assert verdict(renewed, 30) is Verdict.INDETERMINATE  # time to renew again by then
        # Hash-tree renewal to SHA-512 keeps it bound and valid.
        renew(ledger.longterm.anchorer, reason="SHA-256 weakening", algorithm="sha512")
        with ledger.store.transaction() as tx:
            (_, _, rehashed), = tx.evidence_records()
        assert verdict(rehashed, 10) is Verdict.PASSED
        # Tampering breaks it: a flipped byte in the note, or in the record.
        assert verify_evidence_record(rehashed, data=note + b" ", trust_roots=roots,
                                      at=now).bottom_line is not Verdict.PASSED
        flipped = bytearray(rehashed)
        flipped[len(flipped) // 2] ^= 1
        assert verify_evidence_record(bytes(flipped), data=note, trust_roots=roots,
                                      at=now).bottom_line is not Verdict.PASSED
        # The renewal is in the log, and the log still audits.
        ledger.log.sync(anchor=False)
        leaves = ledger.log.leaves(0, ledger.log.size())
        assert any(b'"type":"log.renewed"' in leaf for _, leaf in leaves)
        assert ledger.log.audit().bottom_line is Verdict.PASSED


def test_note_digest_is_sha256_of_the_note_bytes() -> None:
    assert note_digest("origin\n1\nroot\n") == hashlib.sha256(b"origin\n1\nroot\n").digest()


def test_settings_refuse_tsa_urls_without_roots(monkeypatch: pytest.MonkeyPatch) -> None:
    from domain.errors import DomainError

    monkeypatch.setenv("STELE_TSA_URLS", "http://127.0.0.1:3161/")
    monkeypatch.delenv("STELE_TSA_ROOTS", raising=False)
    with pytest.raises(DomainError) as refused:
        Settings.from_env()
    assert refused.value.code == "bad_config"


def test_bouncy_castle_verifies_the_ledgers_evidence_records(settings: Settings,
                                                             bc: Any) -> None:  # noqa: F811
    """An independent RFC 4998 implementation (org.bouncycastle.tsp.ers) reads what the ledger
    keeps: the initial record and the renewed one both cover the checkpoint note."""
    if settings.database.kind != "sqlite":
        pytest.skip("one backend is enough for the outside check")
    with Ledger(settings) as ledger:
        _write(ledger, 2)
        ledger.log.sync()
        with ledger.store.transaction() as tx:
            (size, _, record), = tx.evidence_records()
        note = ledger.checkpointer.at(size).note.encode()  # type: ignore[union-attr]
        done = bc(record, [note])
        assert done.returncode == 0, done.stderr
        renew(ledger.longterm.anchorer, reason="test")
        with ledger.store.transaction() as tx:
            (_, _, renewed), = tx.evidence_records()
        done = bc(renewed, [note])
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "OK 2 archive timestamps"
        assert bc(renewed, [note + b"!"]).returncode != 0


def test_the_server_job_renews_only_when_due(settings: Settings) -> None:
    from dataclasses import replace

    with Ledger(settings) as ledger:
        _write(ledger, 1)
        ledger.log.sync()
        assert ledger.longterm.renew_if_due() is None  # the built-in TSA's certificate has 5 years
    with Ledger(replace(settings, renewal_margin_days=365 * 6)) as ledger:
        assert ledger.longterm.anchoring_status()["renewal_due"]
        assert ledger.longterm.renew_if_due() is None  # checked less than renewal_check_seconds ago
    with Ledger(replace(settings, renewal_margin_days=365 * 6,
                        renewal_check_seconds=1e-6)) as ledger:
        renewed = ledger.longterm.renew_if_due()
        assert renewed is not None and renewed.records == 1
        with ledger.store.transaction() as tx:
            assert tx.open_renewal() is None and tx.renewals_done() == 1


def test_a_second_token_for_the_same_checkpoint_and_tsa_is_dropped(settings: Settings) -> None:
    """Two server processes may anchor one checkpoint at once: the first token stored wins."""
    with Ledger(settings) as ledger:
        _write(ledger, 1)
        ledger.log.sync()
        with ledger.store.transaction() as tx:
            (size, tsa, record), = tx.evidence_records()
            (_, token, gen_time), = tx.timestamps(size)
            tx.add_timestamp(size, tsa, b"another token", gen_time, b"another record", "now",
                             "2099-01-01T00:00:00Z")
        with ledger.store.transaction() as tx:
            assert tx.timestamps(size) == [(tsa, token, gen_time)]
            assert tx.evidence_records() == [(size, tsa, record)]


def test_audit_reverifies_every_evidence_record_and_detects_a_split_view(
    settings: Settings,
) -> None:
    from verifiers.note import sign_note

    with Ledger(settings) as ledger:
        _write(ledger, 2)
        ledger.log.sync()
        kept = ledger.checkpointer.latest()
        assert kept is not None
        _write(ledger, 2, start=5)
        ledger.log.sync()
        report = ledger.log.audit(saved_checkpoint=kept.note)
        assert report.bottom_line is Verdict.PASSED, [c.line() for c in report.failures]
        assert {c.name for c in report.checks} >= {"evidence", "saved_checkpoint"}
        # Ten years on, the built-in TSA's certificate has expired: not proven, not forged.
        later = ledger.log.audit(at=datetime.now(UTC) + timedelta(days=3650))
        assert later.bottom_line is Verdict.INDETERMINATE
        # A checkpoint signed with the log's key over another history: a split view.
        forged = sign_note(f"{settings.origin}\n{kept.size}\n{'A' * 43}=\n", ledger.key.name,
                           ledger.key.private_key)
        split = ledger.log.audit(saved_checkpoint=forged)
        assert split.bottom_line is Verdict.FAILED
        assert "split_view" in {c.code for c in split.failures}
        # An edited evidence record fails the audit.
        with ledger.store.transaction() as tx:
            (size, tsa, record), *_ = tx.evidence_records()
            edited = bytearray(record)
            edited[-40] ^= 1
            tx.update_evidence(size, tsa, bytes(edited), "now", "2099-01-01T00:00:00Z")
        assert ledger.log.audit().bottom_line is Verdict.FAILED
