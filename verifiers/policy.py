"""C2SP tlog-policy: which logs and witnesses are known, and the quorum of cosignatures that
makes a checkpoint count.

Format: https://c2sp.org/tlog-policy. Lines (blank lines and `#` comments ignored; items
separated by spaces and tabs):

    log <vkey> [<url>]
    witness <name> <vkey> [<url>]
    group <name> all|any|<k> <member>...
    quorum <name>|none

Names are defined before use (so groups are never circular), each member appears once in a
group, witnesses and groups share one namespace, and there is exactly one quorum line. A log's
vkey name is its origin. A checkpoint is valid under the policy if one of its logs signed it
and the witnesses that cosigned it satisfy the quorum.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from verifiers.cosignature import CosignerKey, parse_cosigner_key, verify_cosignatures
from verifiers.errors import MalformedError, NoteError, VerificationError
from verifiers.note import Checkpoint, VerifierKey, open_note, parse_checkpoint, parse_verifier_key

__all__ = [
    "Group",
    "Policy",
    "PolicyError",
    "PolicyLog",
    "PolicyWitness",
    "QuorumError",
    "Witnessed",
    "parse_policy",
    "verify_witnessed",
]

_NONE = "none"
_LIMIT = 32  # tlog-policy "Implementation limits": at least 32 of each; we allow exactly that
_BAD_OCTETS = re.compile(b"[\x00-\x08\x0b-\x1f\x7f]")


class PolicyError(MalformedError):
    """A policy file that does not follow tlog-policy."""

    code = "policy_malformed"


class QuorumError(VerificationError):
    """A checkpoint whose cosigners do not satisfy the policy's quorum."""

    code = "quorum_not_met"


@dataclass(frozen=True)
class PolicyLog:
    key: VerifierKey
    url: str | None = None

    @property
    def origin(self) -> str:
        return self.key.name


@dataclass(frozen=True)
class PolicyWitness:
    name: str
    key: CosignerKey
    url: str | None = None


@dataclass(frozen=True)
class Group:
    name: str
    threshold: int
    members: tuple[str, ...]


@dataclass(frozen=True)
class Policy:
    logs: tuple[PolicyLog, ...]
    witnesses: dict[str, PolicyWitness]
    groups: dict[str, Group]
    quorum: str  # a witness, a group, or "none"

    def log(self, origin: str) -> PolicyLog | None:
        return next((log for log in self.logs if log.origin == origin), None)

    def satisfied(self, cosigned: Iterable[str]) -> bool:
        """Whether witnesses `cosigned` (policy names) satisfy the quorum."""
        done = set(cosigned)
        return self.quorum == _NONE or self._witnessed(self.quorum, done)

    def _witnessed(self, name: str, done: set[str]) -> bool:
        group = self.groups.get(name)
        if group is None:
            return name in done
        return sum(self._witnessed(m, done) for m in group.members) >= group.threshold

    def describe(self) -> str:
        """The quorum in words, for messages: `2 of central, south`."""
        if self.quorum == _NONE:
            return "none"
        group = self.groups.get(self.quorum)
        if group is None:
            return self.quorum
        return f"{group.threshold} of {', '.join(group.members)}"


def parse_policy(data: str | bytes, *, quorum_required: bool = True) -> Policy:
    """Parse a tlog-policy file (PolicyError with the line number when it is not one).

    `quorum_required=False` reads a file for its logs alone (a witness's list of the logs it
    cosigns): without a quorum line, the quorum is `none`."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if not isinstance(raw, bytes):
        raise PolicyError("policy must be str or bytes")
    logs: list[PolicyLog] = []
    witnesses: dict[str, PolicyWitness] = {}
    groups: dict[str, Group] = {}
    quorum: str | None = None
    keys: set[bytes] = set()
    for number, line_bytes in enumerate(raw.split(b"\n"), start=1):
        if _BAD_OCTETS.search(line_bytes.replace(b"\r", b"\x01")):
            raise PolicyError("control characters other than tab and newline", line=number)
        line = line_bytes.decode("utf-8", errors="surrogateescape")
        # tlog-policy "Structure": items are separated by spaces and tabs only (any other
        # octet, Unicode spaces included, belongs to a name).
        items = [item for item in line.replace("\t", " ").split(" ") if item]
        if not items or items[0].startswith("#"):
            continue
        word, args = items[0], items[1:]
        try:
            if word == "log":
                if len(args) not in (1, 2):
                    raise PolicyError("log <vkey> [<url>]", line=number)
                key = parse_verifier_key(args[0])
                if key.public_key in keys:
                    raise PolicyError("the same key is listed twice", line=number)
                keys.add(key.public_key)
                logs.append(PolicyLog(key, args[1] if len(args) == 2 else None))
            elif word == "witness":
                if len(args) not in (2, 3):
                    raise PolicyError("witness <name> <vkey> [<url>]", line=number)
                name = _new_name(args[0], witnesses, groups, number)
                cosigner = parse_cosigner_key(args[1])
                if cosigner.public_key in keys:
                    raise PolicyError("the same key is listed twice", line=number)
                keys.add(cosigner.public_key)
                witnesses[name] = PolicyWitness(name, cosigner, args[2] if len(args) == 3 else None)
            elif word == "group":
                if len(args) < 3:
                    raise PolicyError("group <name> all|any|<k> <member>...", line=number)
                name = _new_name(args[0], witnesses, groups, number)
                members = tuple(args[2:])
                for member in members:
                    if member not in witnesses and member not in groups:
                        raise PolicyError("group member is not defined above", line=number,
                                          member=member)
                if len(set(members)) != len(members):
                    raise PolicyError("a group lists a member twice", line=number)
                groups[name] = Group(name, _threshold(args[1], len(members), number), members)
            elif word == "quorum":
                if len(args) != 1 or quorum is not None:
                    raise PolicyError("exactly one quorum <name> line", line=number)
                if args[0] != _NONE and args[0] not in witnesses and args[0] not in groups:
                    raise PolicyError("quorum names no witness or group defined above",
                                      line=number, name=args[0])
                quorum = args[0]
            else:
                raise PolicyError("unknown line", line=number, word=word)
        except PolicyError:
            raise
        except MalformedError as exc:  # a vkey that does not parse
            raise PolicyError(exc.message, line=number, **exc.evidence) from None
    if quorum is None:
        if quorum_required:
            raise PolicyError("the policy has no quorum line")
        quorum = _NONE
    if len(logs) > _LIMIT or len(witnesses) > _LIMIT or len(groups) > _LIMIT:
        raise PolicyError(f"more than {_LIMIT} logs, witnesses or groups")
    return Policy(tuple(logs), witnesses, groups, quorum)


def _new_name(name: str, witnesses: dict[str, PolicyWitness], groups: dict[str, Group],
              number: int) -> str:
    if name == _NONE or name in witnesses or name in groups:
        raise PolicyError("name is reserved or already defined", line=number, name=name)
    return name


def _threshold(text: str, members: int, number: int) -> int:
    if text == "all":
        return members
    if text == "any":
        return 1
    if not re.fullmatch("[1-9][0-9]*", text) or not 1 <= int(text) <= members:
        raise PolicyError("group threshold must be all, any or 1 <= k <= members",
                          line=number, threshold=text)
    return int(text)


@dataclass(frozen=True)
class Witnessed:
    """A checkpoint that a policy's log signed and its quorum cosigned."""

    checkpoint: Checkpoint
    log: str  # the signing log's origin
    cosigners: dict[str, int]  # policy witness name -> cosignature timestamp (POSIX seconds)


def verify_witnessed(note: str | bytes, policy: Policy) -> Witnessed:
    """Check a cosigned checkpoint note against `policy`: signed by one of its logs (the key
    named for the checkpoint's origin), cosigned by witnesses that satisfy its quorum.

    NoteError when no log of the policy signed it (or not the one its origin names),
    CosignatureError when a listed witness's cosignature does not verify, QuorumError when
    too few witnesses cosigned."""
    opened = open_note(note, [log.key for log in policy.logs])
    checkpoint = parse_checkpoint(opened.text)
    log = policy.log(checkpoint.origin)
    if log is None or log.key.name not in opened.verified_by:
        raise NoteError("the checkpoint is not signed by the log its origin names",
                        origin=checkpoint.origin, signed_by=",".join(opened.verified_by))
    # One witness at a time: two policy witnesses may share a key name (a key rotation), and
    # each is credited only with a cosignature by its own key.
    cosigners: dict[str, int] = {}
    for witness in policy.witnesses.values():
        when = verify_cosignatures(note, [witness.key]).get(witness.key.name)
        if when is not None:
            cosigners[witness.name] = when
    if not policy.satisfied(cosigners):
        raise QuorumError("the checkpoint's cosigners do not satisfy the policy's quorum",
                          origin=checkpoint.origin, size=checkpoint.size,
                          cosigned=",".join(sorted(cosigners)) or "none",
                          quorum=policy.describe())
    return Witnessed(checkpoint, checkpoint.origin, cosigners)
