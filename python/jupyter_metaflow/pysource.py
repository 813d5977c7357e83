"""Code text shared by the kernel and the exporter: indenting a cell's code into a method or
class body without touching what its multi-line strings hold, and Metaflow's public names.

The kernel compiles a step cell as the exported file writes it, so both go through
:func:`indent_lines`: a step's text (its line numbers in tracebacks, its multi-line strings and
f-strings) is the same in a notebook run and in ``python flow.py run``.
"""

from __future__ import annotations

import functools
import io
import tokenize
import types
from typing import Any

from .cells import source_lines

__all__ = [
    "indent_code",
    "indent_lines",
    "metaflow_names",
    "metaflow_namespace",
    "string_continuation_lines",
]

_FSTRING_START = getattr(tokenize, "FSTRING_START", None)  # Python 3.12+ (PEP 701)
_FSTRING_END = getattr(tokenize, "FSTRING_END", None)


def string_continuation_lines(code: str) -> set[int]:
    """1-based numbers of lines that continue a multi-line string token: their text belongs
    to the string, so they must not be re-indented. From Python 3.12 an f-string is several
    tokens (``FSTRING_START`` ... ``FSTRING_END``, PEP 701): every line after its start line
    up to its end line continues it (nested f-strings included)."""
    lines: set[int] = set()
    if '"""' not in code and "'''" not in code and "\\\n" not in code:
        return lines
    fstring_starts: list[int] = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(code).readline):
            if tok.type == tokenize.STRING and tok.end[0] > tok.start[0]:
                lines.update(range(tok.start[0] + 1, tok.end[0] + 1))
            elif tok.type == _FSTRING_START:
                fstring_starts.append(tok.start[0])
            elif tok.type == _FSTRING_END and fstring_starts:
                lines.update(range(fstring_starts.pop() + 1, tok.end[0] + 1))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass
    return lines


def indent_lines(code: str, prefix: str) -> list[str]:
    """The lines of ``code`` (as Python numbers them), each indented by ``prefix`` except
    lines inside multi-line strings (kept as they are). Blank lines become empty."""
    inside = string_continuation_lines(code)
    return [
        line if number in inside else (prefix + _without_form_feeds(line) if line.strip() else "")
        for number, line in enumerate(source_lines(code), 1)
    ]


def _without_form_feeds(line: str) -> str:
    """``line`` with the form feeds of its indentation dropped, as Python reads them: a form
    feed resets the indentation count, so ``prefix + "\\f" + code`` would put ``code`` at
    column 0, out of the block it was indented into."""
    indent = len(line) - len(line.lstrip(" \t\f"))
    if "\f" not in line[:indent]:
        return line
    return line[line.rindex("\f", 0, indent) + 1 :]


def indent_code(code: str, prefix: str) -> str:
    """:func:`indent_lines` joined into one text."""
    return "\n".join(indent_lines(code, prefix))


@functools.lru_cache(maxsize=1)
def metaflow_namespace() -> dict[str, Any]:
    """The public non-module names of the ``metaflow`` package (``FlowSpec``, ``step``,
    ``Parameter``, ``current``, the decorators, ...) and their values: flow and step cells use
    them without an import; the exported file imports them."""
    import metaflow

    return {
        name: getattr(metaflow, name)
        for name in dir(metaflow)
        if not name.startswith("_") and not isinstance(getattr(metaflow, name), types.ModuleType)
    }


@functools.lru_cache(maxsize=1)
def metaflow_names() -> frozenset[str]:
    """The names of :func:`metaflow_namespace`."""
    return frozenset(metaflow_namespace())
