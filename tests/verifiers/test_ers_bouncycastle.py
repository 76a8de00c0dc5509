"""What verifiers.ers builds, checked by Bouncy Castle's RFC 4998 implementation.

tests/verifiers/java/ErsCheck.java parses each evidence record with
org.bouncycastle.tsp.ers.ERSEvidenceRecord, has it find each data object in the newest chain
(hashing it itself, with H(h(d) || h(ATSSeq)) after a hash-tree renewal), validate the newest
archive timestamp, and verify every token's signature. The records come from the life cycle of
test_ers_build (real tokens from a throwaway TSA and `openssl ts`).

Needs: apt packages libbcprov-java, libbcpkix-java, libbcutil-java (jars in /usr/share/java;
STELE_BC_JARS overrides the directory) and a Java 17 JDK; and openssl, as test_ers_build.
Without them the tests skip, unless CI is set or STELE_REQUIRE_JAVA=1, when they fail.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from tests.verifiers.test_ers_build import DATA, GROUP, Lifecycle, make_tsa, run_lifecycle

JAVA_SOURCE = Path(__file__).resolve().parent / "java" / "ErsCheck.java"
JARS_DIR = Path(os.environ.get("STELE_BC_JARS", "/usr/share/java"))
JARS = [JARS_DIR / f"{name}.jar" for name in ("bcprov", "bcpkix", "bcutil")]

BcRun = Callable[[bytes, Sequence[bytes]], subprocess.CompletedProcess[str]]


def _unavailable(message: str) -> None:
    if os.environ.get("CI") or os.environ.get("STELE_REQUIRE_JAVA") == "1":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def bc(tmp_path_factory: pytest.TempPathFactory) -> BcRun:
    java, javac = shutil.which("java"), shutil.which("javac")
    if java is None:
        _unavailable("`java` is not on PATH: apt-get install -y openjdk-17-jdk-headless")
    missing = [str(jar) for jar in JARS if not jar.is_file()]
    if missing:
        _unavailable(
            f"Bouncy Castle jars missing ({', '.join(missing)}): "
            "apt-get install -y libbcprov-java libbcpkix-java libbcutil-java"
        )
    assert java is not None
    out = tmp_path_factory.mktemp("ersbc")
    classpath = ":".join(map(str, JARS))
    if javac is not None:
        # Compiled once: a single-file source launch would compile on every run.
        build = [javac, "-nowarn", "-cp", classpath, "-d", str(out), str(JAVA_SOURCE)]
        done = subprocess.run(build, capture_output=True, text=True, check=False, timeout=300)
        assert done.returncode == 0, done.stderr
        command = [java, "-cp", f"{out}:{classpath}", "ErsCheck"]
    else:
        command = [java, "-cp", classpath, str(JAVA_SOURCE)]
    runs = iter(range(10**6))

    def run(er: bytes, data: Sequence[bytes]) -> subprocess.CompletedProcess[str]:
        n = next(runs)
        paths = [out / f"{n}.ers", *(out / f"{n}-{k}.bin" for k in range(len(data)))]
        for path, content in zip(paths, [er, *data], strict=True):
            path.write_bytes(content)
        return subprocess.run(
            [*command, *map(str, paths)], capture_output=True, text=True, check=False, timeout=300
        )

    return run


@pytest.fixture(scope="module")
def life(tmp_path_factory: pytest.TempPathFactory) -> Lifecycle:
    return run_lifecycle(make_tsa(tmp_path_factory.mktemp("tsa")))


# Stages whose chains have at most two archive timestamps (see the last test for why).
STAGES = {"initial": 1, "renewed-1": 2, "rehashed-sha512": 4, "renewed-sha512": 5}


@pytest.mark.parametrize("stage", STAGES)
def test_bouncy_castle_accepts_our_records(bc: BcRun, life: Lifecycle, stage: str) -> None:
    # Record 0 has a reduced hash tree from the start; record GROUP has none at first.
    for k in (0, GROUP):
        done = bc(life.stages[stage][k], [DATA[k]])
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == f"OK {STAGES[stage]} archive timestamps"


def test_bouncy_castle_rejects_data_not_covered(bc: BcRun, life: Lifecycle) -> None:
    done = bc(life.final[0], [b"a record that was never anchored"])
    assert done.returncode != 0
    assert "ERSException" in done.stderr or "ArchiveTimeStampValidationException" in done.stderr
    done = bc(life.final[0], [DATA[GROUP]])  # covered by another record, not this one
    assert done.returncode != 0


def test_bouncy_castle_validate_wants_every_earlier_timestamp(bc: BcRun, life: Lifecycle) -> None:
    """A known difference: Bouncy Castle's ERSEvidenceRecord.validate() requires the newest
    archive timestamp of a chain to cover the timeStamp of every earlier one in the chain,
    while RFC 4998 §5.2 (and EU DSS, and verifiers.ers) asks only for the previous one. Our
    third archive timestamp in one chain covers the second only, so Bouncy Castle refuses
    it, though it still finds the data (validatePresent passes before validate runs)."""
    done = bc(life.stages["renewed-2"][0], [DATA[0]])
    assert done.returncode != 0
    assert "unable to process previous ArchiveTimeStamps" in done.stderr
