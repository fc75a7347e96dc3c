"""Code blocks of the project's markdown, as ``tests/test_docs.py`` runs them.

A fenced block is code when its language is one of :data:`CODE_LANGUAGES`; an untagged fence
is text (a folder layout, a formula). A block that cannot run in the test suite (it needs a
cluster, real data or more than 10 s) carries a marker on the line right before its fence::

    <!-- not run: needs the shared data folder and about 80 s -->

and one line of a shell block can carry the same as a trailing comment
(``postloan experiment big.yaml --scheduler tcp://host:8786   # not run: needs a cluster``).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

CODE_LANGUAGES = ("python", "bash", "console", "sh", "yaml", "sql")
SHELL = ("bash", "console", "sh")
_FENCE = re.compile(r"^(\s*)```(\S*)\s*$")
_MARKER = re.compile(r"<!--\s*not run:\s*(.+?)\s*-->")
_LINE_MARKER = re.compile(r"#\s*not run:\s*(.+)$")


@dataclass
class Block:
    """One fenced block: where it is, its language, its text, and why it is not run (if so)."""

    path: Path
    line: int  # of the opening fence, 1-based
    language: str
    text: str
    not_run: str | None = None

    @property
    def where(self) -> str:
        return f"{self.path.name}:{self.line}"


@dataclass
class ShellLine:
    """One command of a shell block (continuation lines joined), or why it is not run."""

    words: list[str]
    text: str
    not_run: str | None = None


def blocks(path: Path) -> list[Block]:
    """Every fenced block of a markdown file, in order."""
    lines = path.read_text(encoding="utf-8").splitlines()
    out: list[Block] = []
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, language = m.group(1), m.group(2).lower()
        start = i
        body = []
        i += 1
        while i < len(lines) and not _FENCE.match(lines[i]):
            body.append(lines[i][len(indent) :] if lines[i].startswith(indent) else lines[i])
            i += 1
        marker = None
        j = start - 1
        while j >= 0 and not lines[j].strip():
            j -= 1
        if j >= 0 and (mm := _MARKER.search(lines[j])):
            marker = mm.group(1)
        out.append(Block(path, start + 1, language, "\n".join(body) + "\n", marker))
        i += 1
    return out


def shell_lines(block: Block) -> list[ShellLine]:
    """The commands of a shell block: comments dropped, ``\\`` continuations joined, a leading
    ``$ `` prompt and ``.venv/bin/`` stripped."""
    joined: list[str] = []
    pending = ""
    for raw in block.text.splitlines():
        line = raw.rstrip()
        if pending:
            line = pending + " " + line.strip()
            pending = ""
        if line.endswith("\\"):
            pending = line[:-1].rstrip()
            continue
        if line.strip():
            joined.append(line.strip())
    out = []
    for line in joined:
        if line.startswith("#"):
            continue
        marker = _LINE_MARKER.search(line)
        line = line.removeprefix("$ ")
        words = shlex.split(line, comments=True)
        if words and words[0].startswith(".venv/bin/"):
            words[0] = words[0].removeprefix(".venv/bin/")
        out.append(ShellLine(words, line, marker.group(1).strip() if marker else None))
    return out
