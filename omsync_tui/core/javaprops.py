"""Java ``.properties`` files, read the way ``java.util.Properties.load`` reads them.

OpenMLDB's SyncTool takes its settings from ``synctool.properties``; ``load_config`` reads one
for drop-in migration (``omsync_tui.core.config``). This covers what real files use:

* ``key=value``, ``key: value`` and ``key value`` (the first unescaped ``=``, ``:`` or
  whitespace ends the key; whitespace around the separator is dropped, trailing whitespace of
  the value is kept, as Java keeps it);
* ``#`` and ``!`` comment lines and blank lines; leading whitespace is ignored;
* a line ending in an odd number of backslashes continues on the next line, whose leading
  whitespace is dropped (a comment line never continues);
* escapes ``\\t \\n \\r \\f \\uXXXX \\\\``; any other escaped character stands for itself
  (``\\=``, ``\\:``, ``\\ `` and ``\\#`` in keys).

A malformed ``\\uXXXX`` is an error naming the file and line, as Java refuses it. Files are
decoded as UTF-8, falling back to ISO-8859-1 (what ``Properties.load(InputStream)`` assumes)
when they are not valid UTF-8. Stdlib only.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

from omsync_tui.core.errors import UsageError

_WHITESPACE = " \t\f"
_SEPARATORS = "=:"
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}


class Property(NamedTuple):
    """One ``key=value`` of a properties file, escapes decoded; ``line`` is where it starts."""

    key: str
    value: str
    line: int


def read_properties(path: Path | str) -> list[Property]:
    """The properties of the file ``path`` in file order (a repeated key: the later one wins)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UsageError(
            f"properties file {path} does not exist", hint="check the --properties path"
        ) from None
    except OSError as e:
        raise UsageError(f"cannot read properties file {path}: {e}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("iso-8859-1")
    return parse_properties(text, str(path))


def parse_properties(text: str, source: str = "<string>") -> list[Property]:
    """The properties in ``text``; ``source`` names it in errors (``source:line: ...``)."""
    out: list[Property] = []
    for start, logical in _logical_lines(text):
        key_end = _key_end(logical)
        rest = logical[key_end:].lstrip(_WHITESPACE)
        if rest and rest[0] in _SEPARATORS:
            rest = rest[1:].lstrip(_WHITESPACE)
        where = f"{source}:{start}"
        out.append(Property(_unescape(logical[:key_end], where), _unescape(rest, where), start))
    return out


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """(first line number, text) of each non-blank, non-comment logical line, continuations
    joined with their trailing backslash removed and the next line's indentation dropped."""
    lines = _LINE_BREAK.split(text)  # Java breaks lines at \n, \r and \r\n only
    out: list[tuple[int, str]] = []
    i = 0
    while i < len(lines):
        start = i + 1
        line = lines[i].lstrip(_WHITESPACE)
        i += 1
        if not line or line[0] in "#!":
            continue
        parts = []
        while _continues(line):
            parts.append(line[:-1])
            if i >= len(lines):  # a backslash at the end of the file: Java drops it
                line = ""
                break
            line = lines[i].lstrip(_WHITESPACE)
            i += 1
        parts.append(line)
        out.append((start, "".join(parts)))
    return out


def _continues(line: str) -> bool:
    """True when ``line`` ends in an odd number of backslashes (an even number are escapes)."""
    return (len(line) - len(line.rstrip("\\"))) % 2 == 1


def _key_end(line: str) -> int:
    """Index of the first unescaped separator or whitespace: where the key ends."""
    i = 0
    while i < len(line):
        c = line[i]
        if c == "\\":
            i += 2
            continue
        if c in _SEPARATORS or c in _WHITESPACE:
            return i
        i += 1
    return len(line)


def _unescape(text: str, where: str) -> str:
    if "\\" not in text:
        return text
    out: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        nxt = text[i + 1 : i + 2]  # "" for a lone backslash at the end: it stands for nothing
        if nxt == "u":
            digits = text[i + 2 : i + 6]
            if len(digits) != 4 or not all(d in "0123456789abcdefABCDEF" for d in digits):
                raise UsageError(
                    f"{where}: malformed \\uXXXX escape {text[i : i + 6]!r}",
                    hint="write \\u followed by exactly four hex digits, or \\\\u for a literal \\u",
                )
            out.append(chr(int(digits, 16)))
            i += 6
            continue
        out.append(_ESCAPES.get(nxt, nxt))
        i += 2
    # Java strings are UTF-16: a character outside the BMP is written as two \uXXXX surrogates
    return "".join(out).encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
