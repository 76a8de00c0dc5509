"""The pages' words: every key a template asks for exists, in both languages, and so do the
words for every event type, anchor status and refusal the pages show by key."""

from __future__ import annotations

import re
from pathlib import Path

from api.http.web.messages import LANGUAGES, MESSAGES, translator
from domain.dossier import Dossier
from domain.record import Record
from domain.trust import TrustAnchor

TEMPLATES = Path(__file__).resolve().parents[2] / "api" / "http" / "web" / "templates"


def _event_types(*aggregates: type) -> set[str]:
    found = set()
    for aggregate in aggregates:
        for value in vars(aggregate).values():
            kind = getattr(value, "TYPE", None)
            if isinstance(value, type) and isinstance(kind, str) and kind:
                found.add(kind)
    return found


def test_every_key_in_the_templates_has_both_languages() -> None:
    used = set()
    for template in TEMPLATES.glob("*.html"):
        used |= set(re.findall(r"""\bt\(\s*["']([a-z_.]+)["']""", template.read_text("utf-8")))
    assert used, "no keys found: the pattern is wrong"
    # "committee." + action and the like are prefixes: their keys are listed below
    assert sorted(k for k in used - set(MESSAGES) if not k.endswith(".")) == []
    for key, words in MESSAGES.items():
        assert len(words) == len(LANGUAGES) and all(w.strip() for w in words), key


def test_words_for_what_the_pages_show_by_key() -> None:
    keys = {*(_event_types(Record, Dossier)), "PASSED", "FAILED", "INDETERMINATE",
            "verdict.PASSED", "verdict.FAILED", "verdict.INDETERMINATE",
            "active", "suspended", "retired", "committee.signing", "committee.timestamping",
            *(f"trust.{t.removeprefix('trust.anchor_')}" for t in _event_types(TrustAnchor)),
            *(f"committee.{a}" for a in ("suspend", "reinstate", "retire")),
            *(f"committee.consequence.{a}" for a in ("suspend", "reinstate", "retire")),
            *(f"refused.{c}" for c in ("forbidden", "csrf_invalid", "not_found",
                                        "invalid_input", "rejected"))}
    assert sorted(keys - set(MESSAGES)) == []


def test_values_fill_the_words() -> None:
    t = translator("en")
    assert t("inspect.more", n=3) == "3 more records"
    assert translator("vi")("PASSED") == "HỢP LỆ"
    assert t("no.such.key") == "no.such.key"
