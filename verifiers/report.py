"""Reports: every check that ran, its verdict and evidence, and a bottom line."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Verdict(StrEnum):
    """Three values, as in ETSI EN 319 102-1: "could not decide" is never "forged"."""

    PASSED = "PASSED"
    FAILED = "FAILED"
    INDETERMINATE = "INDETERMINATE"


@dataclass(frozen=True)
class Check:
    name: str
    verdict: Verdict
    code: str | None = None  # stable error code when not PASSED
    message: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "verdict": self.verdict.value}
        if self.code:
            out["code"] = self.code
        if self.message:
            out["message"] = self.message
        if self.evidence:
            out["evidence"] = self.evidence
        return out

    def line(self) -> str:
        """`OK: name` or `FAIL: name: code: message`, as the CLI prints it."""
        tag = {Verdict.PASSED: "OK", Verdict.FAILED: "FAIL", Verdict.INDETERMINATE: "INDETERMINATE"}
        text = f"{tag[self.verdict]}: {self.name}"
        if self.code:
            text += f": {self.code}"
        if self.message:
            text += f": {self.message}"
        return text


@dataclass(frozen=True)
class Report:
    checks: tuple[Check, ...]
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def bottom_line(self) -> Verdict:
        verdicts = {c.verdict for c in self.checks}
        if Verdict.FAILED in verdicts:
            return Verdict.FAILED
        if Verdict.INDETERMINATE in verdicts or not self.checks:
            return Verdict.INDETERMINATE
        return Verdict.PASSED

    @property
    def failures(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.verdict is not Verdict.PASSED)

    def as_json(self) -> dict[str, Any]:
        return {
            "bottom_line": self.bottom_line.value,
            "summary": self.summary,
            "checks": [c.as_json() for c in self.checks],
        }
