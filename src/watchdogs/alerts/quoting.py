"""Untrusted text made safe to show: one line, labelled, quoted, query literals masked, escaped for markdown.

Text that comes from AWS (error messages, causes), from names people chose, or from a query can hold anything: line
breaks that would forge a line of the alert ("Next step: delete the bucket"), markdown links or HTML for the chat
client, or literals of the query that Athena quotes back (a value from a WHERE clause, possibly personal data).
Rendered text never contains a raw line break from such a source: it is flattened to one line, put in quotes after
a label, so it can never start a line of its own.
"""

from __future__ import annotations

import re
import textwrap

#: a flattened line break, visible to the reader (so they know the source had several lines)
LINE_BREAK = " \u23ce "
_BREAKS = re.compile(r"\s*(?:\r\n|[\r\n\u2028\u2029\x0b\x0c\x85])\s*")
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
_SPACES = re.compile(r"[ \t]+")
#: SQL string literals (as the query preview masks them) and numbers compared in a predicate
_STRING_LITERAL = re.compile(r"'(?:[^']|'')*'")
_COMPARED_NUMBER = re.compile(
    r"(?P<op>(?:=|<>|!=|<=|>=|<|>|\bBETWEEN\b|\bAND\b|\bLIKE\b)\s*)-?\d+(?:\.\d+)?\b", re.IGNORECASE
)
_IN_LIST = re.compile(r"\bIN\s*\([^)]*\)", re.IGNORECASE)
_NUMBER = re.compile(r"-?\b\d+(?:\.\d+)?\b")
#: characters that format or link in markdown (Slack / Teams / Chime flavours) anywhere in a line; our lines never
#: start with text from an incident, so line-start syntax (``#``, ``-``, ``>``) cannot be forged
_MARKDOWN = re.compile(r"([\\`*_\[\]|~])")
UNTRUSTED_CHARS = 500


def one_line(text: object, limit: int = UNTRUSTED_CHARS) -> str:
    """``text`` on one line: line breaks shown as ⏎, control and bidi characters removed, capped."""
    flat = _BREAKS.sub(LINE_BREAK, str(text))
    flat = _SPACES.sub(" ", _CONTROL.sub("", flat)).strip()
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "\u2026"


def mask_literals(text: str) -> str:
    """Literals a query would hold, masked like the query preview: ``'...'`` strings and compared numbers -> ``?``."""
    masked = _STRING_LITERAL.sub("'?'", text)
    masked = _IN_LIST.sub(lambda m: _NUMBER.sub("?", m.group(0)), masked)
    return _COMPARED_NUMBER.sub(lambda m: f"{m.group('op')}?", masked)


def quoted(text: object, limit: int = UNTRUSTED_CHARS) -> str:
    """Untrusted text as a quoted single line (inner double quotes shown as single ones)."""
    return '"' + one_line(text, limit).replace('"', "'") + '"'


def escape_markdown(text: str) -> str:
    """``text`` with every markdown / HTML meaningful character made literal."""
    html_inert = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MARKDOWN.sub(r"\\\1", html_inert)


def md_quoted(text: object, limit: int = UNTRUSTED_CHARS) -> str:
    """Untrusted text for the chat client: one line, quoted, in a code span (no link, no formatting), with angle
    brackets shown as look-alikes (Slack reads ``<...>`` as a link even in code) and ``&`` spelled out."""
    inert = quoted(text, limit).replace("<", "\u2039").replace(">", "\u203a").replace("&", "+")
    return code_span(inert)


def code_span(text: str) -> str:
    """A markdown code span around ``text`` (commands we write; backticks inside are not expected, but removed)."""
    return "`" + one_line(text, 1000).replace("`", "'") + "`"


def wrap(text: str, width: int = 80, indent: str = "", subsequent: str | None = None) -> list[str]:
    """``text`` wrapped at ``width`` columns (long words such as URLs are kept whole on their own line)."""
    return textwrap.wrap(
        text,
        width=width,
        initial_indent=indent,
        subsequent_indent=indent if subsequent is None else subsequent,
        break_long_words=False,
        break_on_hyphens=False,
    ) or [indent.rstrip()]
