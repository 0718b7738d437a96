"""The `curl` examples of the docs, as runnable scripts with the status each one documents.

The convention (docs/development.md, "Curl examples in the docs"):
- An example is a ```bash (or sh, shell, console) block with a `curl` command in it. A block of
  nothing but variable assignments (`KEY=…`) sets variables for the examples after it.
- The example blocks of one document run in order in one bash process (`set -euo pipefail`), so a
  variable or id set by an earlier example is there for the later ones, and nothing leaks from one
  document to another.
- A comment starting with a status, on its own line after the command (`# 201 {"outcome": …}`) or at
  the end of its last line (`curl … -H "$AUTH"   # 200 list`), is what every request made since the
  previous status comment of the block must answer. A block's last `curl` has a status after it.

Parsing is pure (no I/O besides reading the files); the run itself is the test's business.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

RUN_LANGUAGES = frozenset({"bash", "sh", "shell", "console"})
DOC_PORTS = {8001: "intake", 8002: "sla", 8003: "notify", 8004: "survey"}
"""The ports the docs' URLs use (`make run`'s), each rewritten to the test stack's port of the service."""

_FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([\w+-]*)")
_STATUS = re.compile(r"^#\s*([1-5]\d\d)(?!\d)")
_CURL = re.compile(r"(?<![\w./-])curl(?![\w-])")
_ASSIGNMENT = re.compile(r"^[A-Za-z_]\w*=")
_DOC_URL = re.compile(r"\b127\.0\.0\.1:(800[1-4])\b")


@dataclass(frozen=True)
class Line:
    number: int
    """1-based line number in the document."""
    text: str


@dataclass(frozen=True)
class Block:
    doc: str
    language: str
    lines: tuple[Line, ...]

    @property
    def start(self) -> int:
        return self.lines[0].number - 1 if self.lines else 0


@dataclass(frozen=True)
class LexedLine:
    line: Line
    code: str
    """The line without its comment."""
    comment: str | None
    open_at_end: bool
    """The command goes on after this line (a backslash, an unclosed quote, a trailing pipe or &&)."""


@dataclass
class Example:
    """A runnable example block: its lines, and after which of them a status is checked."""

    block: Block
    checks: dict[int, int] = field(default_factory=dict)
    """Document line number → the status the requests since the previous check must answer."""
    has_curl: bool = False


class ConventionError(ValueError):
    """A block that does not follow the convention (a curl without a status, a misplaced status)."""


def fenced_blocks(doc: str, text: str) -> list[Block]:
    """Every fenced code block of a markdown document, with its info-string language."""
    blocks: list[Block] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        fence, language = opening.group(2), opening.group(3).lower()
        body: list[Line] = []
        index += 1
        while index < len(lines) and not lines[index].strip().startswith(fence):
            body.append(Line(index + 1, lines[index]))
            index += 1
        blocks.append(Block(doc, language, tuple(body)))
        index += 1
    return blocks


def lex(lines: tuple[Line, ...]) -> list[LexedLine]:
    """Split each line into code and comment the way bash does (quotes, escapes, comments starting a
    word), carrying quote state across lines so a multi-line JSON body is never read as comments."""
    out: list[LexedLine] = []
    quote: str | None = None
    for line in lines:
        text = line.text
        comment: str | None = None
        escaped = False
        cut = len(text)
        for i, char in enumerate(text):
            if escaped:
                escaped = False
            elif quote == "'":
                quote = None if char == "'" else quote
            elif char == "\\":
                escaped = True
            elif quote == '"':
                quote = None if char == '"' else quote
            elif char in "'\"":
                quote = char
            elif char == "#" and (i == 0 or text[i - 1] in " \t;|&("):
                comment, cut = text[i:], i
                break
        code = text[:cut].rstrip()
        continues = quote is not None or escaped or code.endswith(("|", "&&", "||"))
        out.append(LexedLine(line, code, comment, continues))
    return out


def is_assignments_only(lexed: list[LexedLine]) -> bool:
    """True for a block that only sets variables (`BASE=…`, `AUTH="Authorization: …"`)."""
    commands = [entry.code for entry in lexed if entry.code.strip()]
    if not commands:
        return False
    for command in commands:
        try:
            words = shlex.split(command)
        except ValueError:
            return False
        if not words or not all(_ASSIGNMENT.match(word) for word in words):
            return False
    return True


def example_of(block: Block) -> Example | None:
    """The block as an example, None if it is not one; ConventionError if it breaks the convention."""
    if block.language not in RUN_LANGUAGES:
        return None
    lexed = lex(block.lines)
    if not any(_CURL.search(entry.code) for entry in lexed):
        return Example(block) if is_assignments_only(lexed) else None
    example = Example(block, has_curl=True)
    pending: int | None = None
    """The line of the first curl since the last status comment."""
    for entry in lexed:
        if _CURL.search(entry.code) and pending is None:
            pending = entry.line.number
        status = _STATUS.match(entry.comment or "")
        if status is None:
            continue
        where = f"{block.doc}:{entry.line.number}"
        if entry.open_at_end:
            raise ConventionError(f"{where}: a status comment inside an unfinished command")
        if pending is None:
            raise ConventionError(f"{where}: status {status.group(1)} follows no curl command")
        example.checks[entry.line.number] = int(status.group(1))
        pending = None
    if pending is not None:
        raise ConventionError(
            f"{block.doc}:{pending}: a curl command with no status comment after it "
            "(`# 200 …` on the next line or at the end of the command's last line)"
        )
    return example


def examples_of(doc: str, text: str) -> list[Example]:
    """A document's examples in order; empty if it has no curl example (its variables need nothing)."""
    examples = [e for e in (example_of(b) for b in fenced_blocks(doc, text)) if e is not None]
    return examples if any(e.has_curl for e in examples) else []


def documents(repo: Path) -> list[Path]:
    """README.md and docs/*.md, the pages a newcomer runs examples from."""
    return [repo / "README.md", *sorted((repo / "docs").glob("*.md"))]


def rewrite_ports(text: str, ports: dict[str, int]) -> str:
    """`127.0.0.1:8001` … `:8004` (the docs' `make run` ports) → the test stack's port of that service."""
    return _DOC_URL.sub(lambda m: f"127.0.0.1:{ports[DOC_PORTS[int(m.group(1))]]}", text)


PRELUDE = r"""set -euo pipefail
__log=${CARELOOP_EXAMPLES_LOG:?}
__allowed='^http://127\.0\.0\.1:(__PORTS__)(/|\?|$)'
__scheme='^[A-Za-z][A-Za-z0-9+.-]*://'
# Real curl, loopback only, no ~/.curlrc or proxy; each request's status goes to the log.
curl() {
  local arg
  for arg in "$@"; do
    if [[ $arg =~ $__scheme && ! $arg =~ $__allowed ]]; then
      printf 'REFUSED %s\n' "$arg" >>"$__log"
      return 97
    fi
  done
  command curl -q --noproxy '*' --proto =http --max-time 30 \
    -w '%{stderr}%{http_code} %{method} %{url_effective}\n' "$@" 2>>"$__log"
}
__expect() { printf 'EXPECT %s %s\n' "$1" "$2" >>"$__log"; }
trap 'printf "FAILED %s %s\n" "$?" "$LINENO" >>"$__log"' ERR
"""


@dataclass(frozen=True)
class Script:
    text: str
    doc_line: dict[int, str]
    """Script line number → `doc:line` it came from, for reporting where a command failed."""


def script_for(examples: list[Example], ports: dict[str, int]) -> Script:
    """One bash script running the examples in order, a check after each status comment."""
    prelude = PRELUDE.replace("__PORTS__", "|".join(str(p) for p in sorted(ports.values())))
    out = prelude.splitlines()
    doc_line: dict[int, str] = {}
    for example in examples:
        block = example.block
        out.append(f"# --- {block.doc}:{block.start}")
        for line in block.lines:
            out.append(rewrite_ports(line.text, ports))
            doc_line[len(out)] = f"{block.doc}:{line.number}"
            if line.number in example.checks:
                out.append(f"__expect {example.checks[line.number]} {block.doc}:{line.number}")
    return Script("\n".join(out) + "\n", doc_line)


def problems_in_log(log: str, script: Script, exit_code: int) -> list[str]:
    """What went wrong, from the run's log: a status other than the documented one, a status comment
    no request reached, a request refused for leaving loopback, the script stopping early."""
    problems: list[str] = []
    seen: list[str] = []
    reached = "before the first status comment"
    failed = False
    for entry in log.splitlines():
        kind, _, rest = entry.partition(" ")
        if kind == "EXPECT":
            status, where = rest.split(" ", 1)
            reached = f"after {where}"
            if not seen:
                problems.append(f"{where}: no request answered before its status comment {status}")
            problems.extend(f"{where}: documented {status}, got {got}" for got in seen if got[:3] != status)
            seen = []
        elif kind == "REFUSED":
            problems.append(f"curl to {rest}: the examples may only call the local services")
        elif kind == "FAILED":
            failed = True
            code, lineno = rest.split(" ", 1)
            where = script.doc_line.get(int(lineno), f"script line {lineno}")
            problems.append(f"{where}: the command exited {code}")
        elif re.match(r"^\d{3} ", entry):
            seen.append(entry)
        else:
            problems.append(f"curl said: {entry}")
    problems.extend(f"no status comment checked this request: {got}" for got in seen)
    if exit_code != 0 and not failed:  # bash stopped on its own (an unset variable, a syntax error)
        problems.append(f"the examples stopped with exit code {exit_code} {reached}")
    return problems


def doc_lines_in(output: str, script: Script) -> str:
    """bash's own messages (`bash: line 22: X: unbound variable`) with the document line instead."""
    return re.sub(r"\bline (\d+):", lambda m: script.doc_line.get(int(m.group(1)), m.group(0)) + ":", output)
