"""verifiers.policy against C2SP tlog-policy, and verify_witnessed on real cosigned notes.

The quorum rule is checked against a plain recursive re-implementation of the spec's
"at least k of its n members have witnessed" over policies generated at random.
"""

from __future__ import annotations

import base64
import itertools
from dataclasses import dataclass

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from verifiers.cosignature import CosignatureError, cosign, cosigner_vkey
from verifiers.errors import MalformedError, NoteError
from verifiers.note import format_checkpoint, sign_note, verifier_key
from verifiers.policy import (
    Group,
    Policy,
    PolicyError,
    QuorumError,
    parse_policy,
    verify_witnessed,
)

ORIGIN = "example.com/log"
LOG_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
OTHER_LOG_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
PROPERTY = settings(max_examples=150, deadline=None)


def _public(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes_raw()


def _key(i: int) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(bytes([i + 40]) * 32)


def _wname(label: str) -> str:
    return f"witness.example/{label}"


def _wvkey(label: str, i: int) -> str:
    return cosigner_vkey(_wname(label), _public(_key(i)))


LOG_VKEY = verifier_key(ORIGIN, _public(LOG_KEY))
LABELS = ["X1", "X2", "X3", "Y1", "Y2", "Y3"]
KEYS = {label: _key(i) for i, label in enumerate(LABELS)}

# The spec's "Example policy", with real keys, comments, tabs, blank lines and URLs.
EXAMPLE = f"""# The spec's example, two levels of groups.
log {LOG_VKEY} https://log.example/

witness X1 {_wvkey("X1", 0)}
witness\tX2\t{_wvkey("X2", 1)}   https://x2.example/witness
  witness X3 {_wvkey("X3", 2)}\t
group X-witnesses 2 X1 X2 X3
   # an indented comment
\t
witness Y1 {_wvkey("Y1", 3)}
witness Y2 {_wvkey("Y2", 4)}
witness Y3 {_wvkey("Y3", 5)}
group Y-witnesses any Y1 Y2 Y3

group X-and-Y all X-witnesses Y-witnesses
quorum X-and-Y
"""


def test_the_spec_example_parses() -> None:
    policy = parse_policy(EXAMPLE)
    assert [log.origin for log in policy.logs] == [ORIGIN]
    assert policy.logs[0].url == "https://log.example/"
    assert str(policy.logs[0].key) == LOG_VKEY
    assert list(policy.witnesses) == LABELS
    assert policy.witnesses["X2"].url == "https://x2.example/witness"
    assert policy.witnesses["X1"].url is None
    assert str(policy.witnesses["Y3"].key) == _wvkey("Y3", 5)
    assert policy.groups == {
        "X-witnesses": Group("X-witnesses", 2, ("X1", "X2", "X3")),
        "Y-witnesses": Group("Y-witnesses", 1, ("Y1", "Y2", "Y3")),
        "X-and-Y": Group("X-and-Y", 2, ("X-witnesses", "Y-witnesses")),
    }
    assert policy.quorum == "X-and-Y"
    assert parse_policy(EXAMPLE.encode()) == policy


def test_the_spec_example_truth_table() -> None:
    policy = parse_policy(EXAMPLE)
    for n in range(len(LABELS) + 1):
        for subset in itertools.combinations(LABELS, n):
            xs = sum(label.startswith("X") for label in subset)
            ys = sum(label.startswith("Y") for label in subset)
            assert policy.satisfied(subset) == (xs >= 2 and ys >= 1), subset


def test_quorum_none_needs_no_logs_or_witnesses() -> None:
    policy = parse_policy("quorum none\n")
    assert policy == Policy((), {}, {}, "none")
    assert policy.satisfied([])
    assert policy.describe() == "none"


def test_a_single_witness_quorum() -> None:
    policy = parse_policy(f"witness W {_wvkey('W', 0)}\nquorum W\n")
    assert policy.satisfied(["W"]) and not policy.satisfied([])
    assert not policy.satisfied(["V"])


def test_logs_and_witnesses_may_follow_the_quorum_line() -> None:
    # "Lines defining witnesses and logs can appear in any order".
    policy = parse_policy(f"quorum none\nlog {LOG_VKEY}\nwitness W {_wvkey('W', 0)}\n")
    assert policy.log(ORIGIN) is not None and "W" in policy.witnesses


def test_names_are_opaque_octets() -> None:
    # "the name 0x4B (ASCII "K") is different from the name 0xE2 0x84 0xAA (a Kelvin sign)".
    policy = parse_policy(f"witness K {_wvkey('a', 0)}\nwitness \u212a {_wvkey('b', 1)}\n"
                          "group both all K \u212a\nquorum both\n")
    assert set(policy.witnesses) == {"K", "\u212a"}
    assert not policy.satisfied(["K"])
    assert policy.satisfied(["K", "\u212a"])
    # Non-UTF-8 octets are allowed in names, URLs and comments too.
    raw = (b"# \xff comment\nwitness w\xfe " + _wvkey("a", 0).encode()
           + b" https://\xe9.example/\nquorum w\xfe\n")
    assert len(parse_policy(raw).witnesses) == 1


W0, W1, W2 = (f"witness W{i} {_wvkey(f'W{i}', i)}\n" for i in range(3))


@pytest.mark.parametrize("text", [
    pytest.param(W0 + "group g any W0 W9\nquorum g\n", id="undefined-member"),
    pytest.param(W0 + "quorum g\ngroup g any W0\n", id="group-defined-after-quorum"),
    pytest.param(W0 + "group g any W0 g\nquorum g\n", id="group-member-of-itself"),
    pytest.param(W0 + W1 + "group g any W0 W1 W0\nquorum g\n", id="member-twice"),
    pytest.param(W0 + "group g any none\nquorum g\n", id="none-as-member"),
    pytest.param(W0 + f"witness W0 {_wvkey('other', 7)}\nquorum W0\n", id="witness-name-reused"),
    pytest.param(W0 + "group W0 any W0\nquorum W0\n", id="group-named-as-witness"),
    pytest.param(W0 + "group g any W0\ngroup g all W0\nquorum g\n", id="group-name-reused"),
    pytest.param(f"witness none {_wvkey('n', 0)}\nquorum none\n", id="none-as-witness-name"),
    pytest.param(W0 + "group none any W0\nquorum none\n", id="none-as-group-name"),
    pytest.param(W0 + W1 + "group g 0 W0 W1\nquorum g\n", id="k-zero"),
    pytest.param(W0 + W1 + "group g 3 W0 W1\nquorum g\n", id="k-above-n"),
    pytest.param(W0 + W1 + "group g 01 W0 W1\nquorum g\n", id="k-leading-zero"),
    pytest.param(W0 + W1 + "group g -1 W0 W1\nquorum g\n", id="k-negative"),
    pytest.param(W0 + W1 + "group g some W0 W1\nquorum g\n", id="k-word"),
    pytest.param(W0 + "group g any\nquorum g\n", id="no-members"),
    pytest.param(W0 + "quorum W0\nquorum W0\n", id="two-quorum-lines"),
    pytest.param(W0 + "quorum none\nquorum W0\n", id="two-quorum-lines-none"),
    pytest.param(W0, id="no-quorum-line"),
    pytest.param("", id="empty-file"),
    pytest.param(W0 + "quorum\n", id="quorum-without-name"),
    pytest.param(W0 + "quorum W0 W0\n", id="quorum-two-names"),
    pytest.param(W0 + "quorum W9\n", id="quorum-undefined"),
    pytest.param(f"witness A {_wvkey('W0', 0)}\nwitness B {_wvkey('other-name', 0)}\n"
                 "quorum A\n", id="duplicate-witness-key"),
    pytest.param(f"log {LOG_VKEY}\nlog {verifier_key('other.example', _public(LOG_KEY))}\n"
                 "quorum none\n", id="duplicate-log-key"),
    pytest.param(W0 + "witnesses W1 x\nquorum W0\n", id="unknown-keyword"),
    pytest.param(W0 + "Quorum W0\n", id="keyword-case"),
    pytest.param(W0 + "quorum W0\nnope\n", id="unknown-keyword-after-quorum"),
    pytest.param(W0 + "quorum W0\r\n", id="carriage-return"),
    pytest.param(W0 + "quorum\x00W0\n", id="nul"),
    pytest.param(W0 + "quorum W0\n# \x1b[31m\n", id="escape-in-comment"),
    pytest.param(W0 + "quorum W0\n\x0c\n", id="form-feed"),
    pytest.param(W0 + "quorum W0\n\x0b\n", id="vertical-tab"),
    pytest.param(W0 + "quorum W0\n# \x7f\n", id="delete"),
    pytest.param(f"witness W {LOG_VKEY}\nquorum W\n", id="witness-with-log-vkey"),
    pytest.param(f"log {_wvkey('W', 0)}\nquorum none\n", id="log-with-cosigner-vkey"),
    pytest.param("witness W not-a-vkey\nquorum W\n", id="witness-bad-vkey"),
    pytest.param(f"witness W {_wvkey('W', 0)[:-4]}\nquorum W\n", id="witness-vkey-truncated"),
    pytest.param("log example.com+00000000+AQ==\nquorum none\n", id="log-bad-vkey"),
    pytest.param("witness W\nquorum none\n", id="witness-without-vkey"),
    pytest.param(f"witness W {_wvkey('W', 0)} https://a https://b\nquorum W\n",
                 id="witness-two-urls"),
    pytest.param(f"log {LOG_VKEY} https://a https://b\nquorum none\n", id="log-two-urls"),
    pytest.param("log\nquorum none\n", id="log-without-vkey"),
])
def test_malformed_policies_are_refused(text: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(text)
    assert caught.value.code == "policy_malformed"
    assert isinstance(caught.value, MalformedError)


def test_refusals_name_the_line() -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(W0 + "\n# comment\ngroup g any W0 W9\nquorum g\n")
    assert caught.value.evidence["line"] == 4
    with pytest.raises(PolicyError) as caught:
        parse_policy(W0 + "witness V bad\n")
    assert caught.value.evidence["line"] == 2


def test_implementation_limits_of_32_are_supported() -> None:
    # tlog-policy "Implementation limits": at least 32 logs, witnesses and groups.
    logs = "".join(f"log {verifier_key(f'log{i}.example', _public(_key(100 + i)))}\n"
                   for i in range(32))
    witnesses = "".join(f"witness W{i} {_wvkey(f'W{i}', i)}\n" for i in range(32))
    groups = "group G0 any W0\n" + "".join(f"group G{i} any G{i - 1} W{i}\n"
                                           for i in range(1, 32))
    policy = parse_policy(logs + witnesses + groups + "quorum G31\n")
    assert (len(policy.logs), len(policy.witnesses), len(policy.groups)) == (32, 32, 32)
    assert policy.satisfied(["W0"]) and policy.satisfied(["W31"]) and not policy.satisfied([])


# --- The quorum rule, against a plain re-implementation -----------------------------------


@dataclass
class Spec:
    """A generated policy: witness names, and groups as (name, k text, k, members)."""

    witnesses: list[str]
    groups: list[tuple[str, str, int, list[str]]]
    quorum: str

    def text(self) -> str:
        lines = [f"witness {w} {_wvkey(w, i)}" for i, w in enumerate(self.witnesses)]
        lines += [f"group {g} {k_text} {' '.join(members)}"
                  for g, k_text, _, members in self.groups]
        return "\n".join([*lines, f"quorum {self.quorum}", ""])

    def witnessed(self, name: str, cosigned: frozenset[str]) -> bool:
        for g, _, k, members in self.groups:
            if g == name:
                return sum(self.witnessed(m, cosigned) for m in members) >= k
        return name in cosigned


@st.composite
def specs(draw: st.DrawFn) -> Spec:
    witnesses = [f"w{i}" for i in range(draw(st.integers(1, 7)))]
    names = list(witnesses)
    groups = []
    for j in range(draw(st.integers(0, 5))):
        members = draw(st.lists(st.sampled_from(names), min_size=1, max_size=len(names),
                                unique=True))
        form = draw(st.sampled_from(["all", "any", "k"]))
        if form == "k":
            k = draw(st.integers(1, len(members)))
            k_text = str(k)
        else:
            k, k_text = (len(members), "all") if form == "all" else (1, "any")
        groups.append((f"g{j}", k_text, k, members))
        names.append(f"g{j}")
    return Spec(witnesses, groups, draw(st.sampled_from(names)))


@PROPERTY
@given(spec=specs(), data=st.data())
def test_satisfied_is_at_least_k_of_n_members_recursively(spec: Spec, data: st.DataObject) -> None:
    policy = parse_policy(spec.text())
    assert policy.quorum == spec.quorum
    subsets = [frozenset(s) for n in range(len(spec.witnesses) + 1)
               for s in itertools.combinations(spec.witnesses, n)]
    for cosigned in subsets:
        assert policy.satisfied(cosigned) == spec.witnessed(spec.quorum, cosigned), cosigned
    # Names the policy does not know do not count.
    extra = data.draw(st.sets(st.sampled_from(["stranger", "none", "g0"])))
    for cosigned in subsets:
        assert policy.satisfied(cosigned | extra) == spec.witnessed(
            spec.quorum, cosigned | (extra - {"g0"})), cosigned


@PROPERTY
@given(spec=specs())
def test_satisfied_is_monotone(spec: Spec) -> None:
    policy = parse_policy(spec.text())
    for n in range(len(spec.witnesses)):
        for subset in itertools.combinations(spec.witnesses, n):
            if policy.satisfied(subset):
                for w in spec.witnesses:
                    assert policy.satisfied({*subset, w})


# --- verify_witnessed -----------------------------------------------------------------------

TEXT = format_checkpoint(ORIGIN, 1234, bytes(range(32)))


def _note(*labels: str, text: str = TEXT, log: Ed25519PrivateKey = LOG_KEY,
          origin: str = ORIGIN) -> str:
    note = sign_note(text, origin, log)
    for i, label in enumerate(labels):
        note += cosign(text, _wname(label), KEYS[label], 1_700_000_000 + i)
    return note


def test_verify_witnessed_passes_with_quorum() -> None:
    policy = parse_policy(EXAMPLE)
    got = verify_witnessed(_note("X1", "X3", "Y2"), policy)
    assert got.log == ORIGIN
    assert (got.checkpoint.origin, got.checkpoint.size) == (ORIGIN, 1234)
    assert got.cosigners == {"X1": 1_700_000_000, "X3": 1_700_000_001, "Y2": 1_700_000_002}
    assert verify_witnessed(_note(*LABELS).encode(), policy).cosigners.keys() == set(LABELS)


@pytest.mark.parametrize("labels", [(), ("X1",), ("X1", "X2"), ("Y1", "Y2", "Y3"),
                                    ("X1", "Y1", "Y2", "Y3")])
def test_too_few_cosigners_is_quorum_not_met(labels: tuple[str, ...]) -> None:
    with pytest.raises(QuorumError) as caught:
        verify_witnessed(_note(*labels), parse_policy(EXAMPLE))
    assert caught.value.code == "quorum_not_met"


def test_cosignatures_by_unlisted_witnesses_do_not_count() -> None:
    stranger = Ed25519PrivateKey.from_private_bytes(b"\x09" * 32)
    note = _note("X1", "Y1") + cosign(TEXT, _wname("X2"), stranger, 5)
    with pytest.raises(QuorumError):
        verify_witnessed(note, parse_policy(EXAMPLE))


def test_quorum_none_needs_only_the_log() -> None:
    policy = parse_policy(f"log {LOG_VKEY}\nquorum none\n")
    assert verify_witnessed(_note(), policy).cosigners == {}


def test_a_note_signed_by_an_unlisted_log_key_is_note_invalid() -> None:
    with pytest.raises(NoteError) as caught:
        verify_witnessed(_note(*LABELS, log=OTHER_LOG_KEY), parse_policy(EXAMPLE))
    assert caught.value.code == "note_invalid"


def test_a_policy_without_logs_trusts_no_checkpoint() -> None:
    with pytest.raises(NoteError):
        verify_witnessed(_note(), parse_policy("quorum none\n"))


def test_an_altered_cosignature_of_a_listed_witness_is_cosignature_invalid() -> None:
    good = _note("X1", "X2", "Y1")
    line = cosign(TEXT, _wname("X3"), KEYS["X3"], 1_700_000_009)
    name, encoded = line[2:-1].split(" ")
    raw = bytearray(base64.b64decode(encoded))
    raw[30] ^= 0x40
    bad = good + f"\u2014 {name} {base64.b64encode(bytes(raw)).decode()}\n"
    with pytest.raises(CosignatureError) as caught:
        verify_witnessed(bad, parse_policy(EXAMPLE))  # quorum is met without X3: still refused
    assert caught.value.code == "cosignature_invalid"


def test_a_cosignature_over_another_checkpoint_is_cosignature_invalid() -> None:
    other = format_checkpoint(ORIGIN, 1235, bytes(range(32)))
    note = _note("X1", "X2") + cosign(other, _wname("Y1"), KEYS["Y1"], 7)
    with pytest.raises(CosignatureError):
        verify_witnessed(note, parse_policy(EXAMPLE))


def test_a_malformed_checkpoint_is_malformed() -> None:
    with pytest.raises(MalformedError):
        verify_witnessed(_note(text="not a checkpoint\n"), parse_policy(EXAMPLE))


def test_two_witnesses_sharing_a_key_name_are_told_apart() -> None:
    # tlog-policy forbids only duplicate *keys*; policy names are the witnesses' identity.
    shared = "witness.example/rotating"
    policy = parse_policy(f"log {LOG_VKEY}\n"
                          f"witness old {cosigner_vkey(shared, _public(_key(0)))}\n"
                          f"witness new {cosigner_vkey(shared, _public(_key(1)))}\n"
                          "quorum new\n")
    note = sign_note(TEXT, ORIGIN, LOG_KEY) + cosign(TEXT, shared, _key(0), 1)
    # Only "old" cosigned; a quorum of "new" must not be met.
    with pytest.raises(QuorumError):
        verify_witnessed(note, policy)


@pytest.mark.parametrize("space", ["\u00a0", "\u0085", "\u2003", "\u3000"])
def test_only_space_and_tab_separate_items(space: str) -> None:
    # "whitespace ... means sequences of ASCII space and tab characters *only*", and
    # non-ASCII octets in names are opaque: `X<space>Y` is one (undefined) member name.
    with pytest.raises(PolicyError):
        parse_policy(W0 + W1 + f"group g all W0{space}W1\nquorum g\n")
