"""Java .properties files: the forms real files use, read as java.util.Properties reads them."""

from __future__ import annotations

from pathlib import Path

import pytest

from omsync_tui.core.errors import UsageError
from omsync_tui.core.javaprops import Property, parse_properties, read_properties


def pairs(text: str) -> list[tuple[str, str]]:
    return [(p.key, p.value) for p in parse_properties(text)]


@pytest.mark.parametrize(
    ("line", "key", "value"),
    [
        ("key=value", "key", "value"),
        ("key = value", "key", "value"),
        ("key:value", "key", "value"),
        ("key : value", "key", "value"),
        ("key value", "key", "value"),
        ("key\tvalue", "key", "value"),
        ("   key=value", "key", "value"),
        ("key", "key", ""),
        ("key=", "key", ""),
        ("key  =  ", "key", ""),
        ("key==value", "key", "=value"),  # only the first separator is one
        ("key=a=b:c d", "key", "a=b:c d"),
        ("key = value  ", "key", "value  "),  # Java keeps a value's trailing whitespace
        ("key value=x", "key", "value=x"),
        ("server.host=0.0.0.0", "server.host", "0.0.0.0"),
        ("high-availability.storageDir=file:///tmp/ha", "high-availability.storageDir", "file:///tmp/ha"),
    ],
)
def test_separators(line: str, key: str, value: str) -> None:
    assert pairs(line + "\n") == [(key, value)]


def test_comments_blank_lines_and_line_numbers() -> None:
    text = "# a comment\n! another\n\n   \n  # indented comment\nkey=value # not a comment\n\na:b\n"
    assert parse_properties(text) == [Property("key", "value # not a comment", 6), Property("a", "b", 8)]


def test_continuation_lines_join_and_drop_indentation() -> None:
    text = "list=a,\\\n     b,\\\n\tc\nnext=1\n"
    assert parse_properties(text) == [Property("list", "a,b,c", 1), Property("next", "1", 4)]


def test_even_backslashes_do_not_continue() -> None:
    assert pairs("path=C:\\\\\nnext=1\n") == [("path", "C:\\"), ("next", "1")]
    assert pairs("a=x\\\\\\\ny\n") == [("a", "x\\y")]  # three: one escape, then a continuation


def test_a_comment_line_never_continues_and_a_continued_line_is_no_comment() -> None:
    assert pairs("# comment \\\nkey=value\n") == [("key", "value")]
    assert pairs("key=a\\\n  # b\n") == [("key", "a# b")]


def test_continuation_at_end_of_file() -> None:
    assert pairs("key=value\\") == [("key", "value")]
    assert pairs("key=value\\\n") == [("key", "value")]


def test_continued_key() -> None:
    assert pairs("ke\\\n  y=v\n") == [("key", "v")]


@pytest.mark.parametrize(
    ("text", "key", "value"),
    [
        ("k=a\\tb", "k", "a\tb"),
        ("k=a\\nb", "k", "a\nb"),
        ("k=a\\rb\\fc", "k", "a\rb\fc"),
        ("k=a\\\\b", "k", "a\\b"),
        ("k=\\u00e9t\\u00C9", "k", "étÉ"),
        ("k=\\uD83D\\uDE00", "k", "😀"),  # a UTF-16 surrogate pair is one character
        ("k=\\q\\#\\!", "k", "q#!"),  # any other escaped character stands for itself
        ("a\\=b=c", "a=b", "c"),
        ("a\\:b:c", "a:b", "c"),
        ("a\\ b c", "a b", "c"),
        ("\\#notcomment=1", "#notcomment", "1"),
        ("k=\\ leading", "k", " leading"),  # an escaped space is kept
        ("k=v\\", "k", "v"),
    ],
)
def test_escapes(text: str, key: str, value: str) -> None:
    assert pairs(text) == [(key, value)]


@pytest.mark.parametrize("bad", ["k=\\u12", "k=\\u12G4", "k=x\\u"])
def test_malformed_unicode_escape_names_source_and_line(bad: str) -> None:
    with pytest.raises(UsageError, match=r"^f\.properties:3: malformed \\uXXXX escape") as e:
        parse_properties(f"# c\n\n{bad}\n", "f.properties")
    assert e.value.hint is not None and "four hex digits" in e.value.hint


def test_line_breaks_are_lf_cr_and_crlf_only() -> None:
    assert parse_properties("a=1\r\nb=2\rc=3\nd=4\u2028x") == [
        Property("a", "1", 1),
        Property("b", "2", 2),
        Property("c", "3", 3),
        Property("d", "4\u2028x", 4),
    ]


def test_repeated_keys_are_all_returned_in_order() -> None:
    assert pairs("a=1\nb=2\na=3\n") == [("a", "1"), ("b", "2"), ("a", "3")]


def test_read_utf8_and_latin1_files(tmp_path: Path) -> None:
    utf8 = tmp_path / "u.properties"
    utf8.write_text("name=café 東京\n", encoding="utf-8")
    assert read_properties(utf8) == [Property("name", "café 東京", 1)]
    latin1 = tmp_path / "l.properties"
    latin1.write_bytes("name=café\n".encode("iso-8859-1"))  # what Properties.load(InputStream) reads
    assert read_properties(latin1) == [Property("name", "café", 1)]


def test_read_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        read_properties(tmp_path / "nope.properties")
    with pytest.raises(UsageError, match="cannot read properties file"):
        read_properties(tmp_path)  # a directory
    bad = tmp_path / "bad.properties"
    bad.write_text("ok=1\nk=\\uZZZZ\n")
    with pytest.raises(UsageError, match=rf"^{bad}:2: malformed"):
        read_properties(bad)


def test_empty_file() -> None:
    assert parse_properties("") == []
    assert parse_properties("\n\n# only comments\n") == []
