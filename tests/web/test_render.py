"""The pages' small rules that need no browser: where a login may send back to."""

from __future__ import annotations

import pytest

from api.http.web.render import safe_next


@pytest.mark.parametrize("value", [
    "/records?number=1&subject=x", "/", "/committee", "/records/abc-1", "/catalogs?q=t%C3%A0i"])
def test_a_path_here_is_kept(value: str) -> None:
    assert safe_next(value) == value


@pytest.mark.parametrize("value", [
    None, "", "https://evil.example/", "//evil.example", "/\\evil.example", "\\\\evil.example",
    "/\t/evil.example", "/\n/evil.example", "/\r/evil.example", " /x", "/x\x00", "javascript:x",
    "records"])
def test_anywhere_else_is_not(value: str | None) -> None:
    assert safe_next(value, "/home") == "/home"
