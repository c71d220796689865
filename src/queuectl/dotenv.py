"""``enqueue --env-file FILE``: variables in the dotenv format, read where the job is
enqueued; they become the job's own (its ``env``, below those given there).

What is read (README, "The job's environment"), a line at a time:
- blank lines, and comments: lines whose first non-blank character is ``#``;
- ``NAME=value`` or ``export NAME=value``; blanks around the name and the ``=`` are
  ignored; NAME is a shell name (``[A-Za-z_][A-Za-z0-9_]*``); a later NAME wins;
- a bare value ends at the end of the line or at `` #`` (a comment after a blank), and
  loses its outer blanks; nothing in it is special, ``$`` and ``\\`` included;
- ``'single quotes'``: the text as it is, newlines included, no escapes;
- ``"double quotes"``: newlines included, and the escapes ``\\n \\t \\r \\" \\\\ \\$``; a
  backslash before any other character stays a backslash;
- after a closing quote, only blanks or a comment.
No ``${VAR}`` expansion and no command substitution: a value is what the file says.

Anything else is refused with the file's name and the line's number. Pure but for
``read_env_files``, which reads the files.
"""

from __future__ import annotations

import re

from queuectl.errors import InvalidInput, brief

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

_ASSIGNMENT = re.compile(r"[ \t]*(?:export[ \t]+)?([A-Za-z_][A-Za-z0-9_]*)[ \t]*=")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "$": "$"}
_DOUBLE = re.compile(r'\\(.)|(")', re.DOTALL)  # an escape, or the closing quote


def parse(text: str, source: str) -> dict[str, str]:
    """The variables of ``text`` (a file's content) in the order of the file, a later
    assignment of a name replacing an earlier one; InvalidInput naming ``source`` and
    the line, for a line that is not one of the forms above."""
    if text.startswith("\ufeff"):
        text = text[1:]  # a byte order mark, as some editors write one
    text = text.replace("\r\n", "\n")
    env: dict[str, str] = {}
    at, number, end = 0, 1, len(text)
    while at < end:
        stop = text.find("\n", at)
        stop = end if stop < 0 else stop
        line = text[at:stop]
        stripped = line.strip(" \t")
        if not stripped or stripped.startswith("#"):
            at, number = stop + 1, number + 1
            continue
        found = _ASSIGNMENT.match(line)
        if found is None:
            raise InvalidInput(f"{source}, line {number}: {_what(stripped)}")
        start = at + found.end()
        try:
            value, after = _value(text, start, stop)
        except ValueError as exc:
            raise InvalidInput(f"{source}, line {number}: {exc}") from None
        if "\x00" in value:
            raise InvalidInput(f"{source}, line {number}: a value must not contain NUL bytes")
        env[found.group(1)] = value
        number += text.count("\n", at, after) + 1
        at = after + 1
    return env


def _what(line: str) -> str:
    """Why a line that is neither blank, a comment nor an assignment is refused."""
    name, sep, _ = line.removeprefix("export ").partition("=")
    if not sep:
        return f"expected NAME=value, got {brief(line, 40)}"
    shown = brief(name.strip(), 40)
    return f"invalid variable name {shown}: use A-Z a-z 0-9 _, not starting with a digit"


def _value(text: str, start: int, stop: int) -> tuple[str, int]:
    """The value that starts at ``start`` (its line ends at ``stop``) → (the value, where
    its last line ends). ValueError says what is wrong."""
    bare = text[start:stop]
    start += len(bare) - len(bare.lstrip(" \t"))
    quote = text[start : start + 1]
    if quote == "'":
        close = text.find("'", start + 1)
        if close < 0:
            raise ValueError("a single quote is never closed")
        return text[start + 1 : close], _rest(text, close + 1)
    if quote == '"':
        parts: list[str] = []
        at = start + 1
        for found in _DOUBLE.finditer(text, at):
            parts.append(text[at : found.start()])
            if found.group(2) is not None:
                return "".join(parts), _rest(text, found.end())
            char = found.group(1)
            parts.append(_ESCAPES.get(char, "\\" + char))
            at = found.end()
        raise ValueError("a double quote is never closed")
    comment = re.search(r"[ \t]#", bare)  # the blank may be the one after the '='
    if comment is not None:
        bare = bare[: comment.start()]
    return bare.strip(" \t"), stop


def _rest(text: str, at: int) -> int:
    """After a closing quote at ``at``: blanks and a comment are allowed to the line's
    end, which is returned."""
    stop = text.find("\n", at)
    stop = len(text) if stop < 0 else stop
    rest = text[at:stop].strip(" \t")
    if rest and not rest.startswith("#"):
        raise ValueError(f"unexpected {brief(rest, 40)} after the closing quote")
    return stop


def read_env_files(names: Sequence[str]) -> dict[str, str]:
    """The variables of every file of ``names`` (UTF-8), a later file's winning."""
    env: dict[str, str] = {}
    for name in names:
        try:
            with open(name, encoding="utf-8") as handle:
                text = handle.read()
        except FileNotFoundError:
            raise InvalidInput(f"--env-file: no such file: {name}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"--env-file: cannot read {name}: {exc}") from None
        env.update(parse(text, name))
    return env
