"""Every shell block of README.md runs, as a person would paste it, and does what it says.

The README is read when the test runs, so blocks added later are run too. Its shell blocks
(```sh, ```bash, ```shell) run in order in one bash session (a variable set in one block is
there in the next), in a fresh directory whose store is the default `./ledger.db`, with the
installed `ledger` first on PATH and no LEDGER_* variable from outside. The conventions the
README follows (its section "How the README is tested" says the same for writers):

- every command must exit 0, unless its trailing comment starts with `# exit N` (e.g.
  `# exit 3: declined, and recorded`);
- a comment line starting with `# => ` right after a command is what the command prints: it
  must appear in its standard output or error, whitespace ignored, `...` standing for any
  text;
- a block whose first line is `# not run by the README test: REASON` is not run (long-running
  servers, containers, the test suite itself); the reason must be given;
- dates that must stay valid are written with `$(date ...)`, which bash runs.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
SHELLS = {"sh", "bash", "shell"}
NOT_RUN = re.compile(r"^# not run by the README test:\s*(\S.*)?$")
EXPECTED = re.compile(r"^#\s*=>\s?(.*)$")
EXIT = re.compile(r"#\s*exit (\d+)\b")
TIMEOUT = 600  # seconds for the whole README (about 70 commands, 1-2 s each on 2 busy cores)
HEREDOC = re.compile(r"<<-?\s*'?\"?(\w+)'?\"?")


@dataclass
class Command:
    """One command of a block: its text (continuation lines joined as bash reads them), the
    README line it starts on, the exit code and the output it promises."""

    line: int
    text: str
    exit_code: int = 0
    expected: list[str] = field(default_factory=list)


@dataclass
class Block:
    line: int
    language: str
    lines: list[str]

    @property
    def not_run(self) -> re.Match[str] | None:
        return NOT_RUN.match(self.lines[0].strip()) if self.lines else None


def blocks(text: str) -> list[Block]:
    """The fenced code blocks of a markdown text, with the line each starts on."""
    found: list[Block] = []
    current: Block | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        fence = re.match(r"^\s*```\s*([\w-]*)", line)
        if fence and current is None:
            current = Block(number, fence.group(1).lower(), [])
        elif line.strip().startswith("```") and current is not None:
            found.append(current)
            current = None
        elif current is not None:
            current.lines.append(line)
    assert current is None, f"README.md: the block opened on line {current.line} never closes"
    return found


def shell_blocks(text: str) -> list[Block]:
    return [b for b in blocks(text) if b.language in SHELLS]


def commands(block: Block) -> list[Command]:
    """The block's commands, each with its exit code and expected output lines."""
    found: list[Command] = []
    lines = block.lines
    i = 0
    while i < len(lines):
        line = lines[i]
        number = block.line + 1 + i
        stripped = line.strip()
        i += 1
        if not stripped:
            continue
        if stripped.startswith("#"):
            expected = EXPECTED.match(stripped)
            if expected and found:
                found[-1].expected.append(expected.group(1).strip())
            continue
        text = [line]
        while text[-1].rstrip().endswith("\\") and i < len(lines):
            text.append(lines[i])
            i += 1
        heredoc = HEREDOC.search(" ".join(text))
        if heredoc:
            while i < len(lines):
                text.append(lines[i])
                i += 1
                if text[-1].strip() == heredoc.group(1):
                    break
        code = EXIT.search(text[0] if heredoc else text[-1])
        found.append(Command(number, "\n".join(text), int(code.group(1)) if code else 0))
    return found


def matches(expected: str, output: str) -> bool:
    """Whether `expected` (whitespace ignored, `...` any text) is in `output`."""
    squeeze = re.compile(r"\s+")
    pattern = ".*?".join(re.escape(part) for part in squeeze.sub("", expected).split("..."))
    return re.search(pattern, squeeze.sub("", output), re.DOTALL) is not None


def script(runnable: list[Command], results: Path) -> str:
    """One bash session running every command in turn, each one's output and exit code kept
    in `results` (run in the session itself, so assignments and exports carry on)."""
    parts = [
        "__ledger_run() {",
        "  __ledger_cmd=$(cat)",
        f'  eval "$__ledger_cmd" > "{results}/$1.out" 2> "{results}/$1.err" < /dev/null',
        f'  echo $? > "{results}/$1.rc"',
        "}",
    ]
    for n, command in enumerate(runnable):
        parts += [f"__ledger_run {n} <<'__LEDGER_README_{n}'", command.text, f"__LEDGER_README_{n}"]
    return "\n".join(parts) + "\n"


def test_the_readme_parser_reads_commands_exit_codes_outputs_and_markers() -> None:
    """The conventions themselves, on a small README (so a broken parser cannot pass the real
    one by running nothing)."""
    text = "\n".join([
        "```sh",
        "ledger terms show --json   # every figure",
        "# => {\"currency\": ...}",
        "ledger ticket open --contract $C \\",
        "    --key X-1   # exit 3: declined",
        "cat > f.json <<'EOF'",
        "{\"a\": 1}",
        "EOF",
        "```",
        "```sh",
        "# not run by the README test: serves until Ctrl-C",
        "ledger serve",
        "```",
        "```json",
        "{}",
        "```",
    ])  # fmt: skip
    shell = shell_blocks(text)
    assert len(shell) == 2
    assert shell[1].not_run is not None
    assert shell[1].not_run.group(1) == "serves until Ctrl-C"
    first = commands(shell[0])
    assert [(c.line, c.exit_code, c.expected) for c in first] == [
        (2, 0, ['{"currency": ...}']),
        (4, 3, []),
        (6, 0, []),
    ]
    assert (
        first[1].text == "ledger ticket open --contract $C \\\n    --key X-1   # exit 3: declined"
    )
    assert first[2].text.endswith("EOF")
    assert matches(
        '{"end": "2025-12-29T13:00:00Z", ...}', '{\n  "end": "2025-12-29T13:00:00Z",\n  "x": 1\n}'
    )
    assert not matches('{"end": "2025-12-30T13:00:00Z", ...}', '{"end": "2025-12-29T13:00:00Z"}')


def test_every_block_not_run_says_why() -> None:
    for block in shell_blocks(README.read_text(encoding="utf-8")):
        if block.not_run is not None:
            assert block.not_run.group(1), f"README.md line {block.line}: give the reason"


@pytest.mark.timeout(TIMEOUT + 60)
def test_every_shell_block_of_the_readme_runs_as_written(tmp_path: Path) -> None:
    text = README.read_text(encoding="utf-8")
    runnable = [c for b in shell_blocks(text) if b.not_run is None for c in commands(b)]
    assert len(runnable) >= 20  # the README's walk-through; a parser that finds none fails
    results = tmp_path / "results"
    results.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["COLUMNS"] = "200"
    session = subprocess.Popen(  # its own process group: a command left running is ended too
        ["bash", "-c", script(runnable, results)], cwd=work, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    try:
        _, stderr = session.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(session.pid, signal.SIGKILL)
        session.communicate()
        running = next(c for n, c in enumerate(runnable) if not (results / f"{n}.rc").exists())
        pytest.fail(
            f"README.md line {running.line} still ran after {TIMEOUT} s (a server? mark its "
            f"block '# not run by the README test: why'):\n{running.text}"
        )
    assert session.returncode == 0, stderr
    problems = []
    for n, command in enumerate(runnable):
        rc_file = results / f"{n}.rc"
        if not rc_file.exists():
            problems.append(f"line {command.line}: never ran\n{command.text}")
            continue
        code = int(rc_file.read_text())
        out = (results / f"{n}.out").read_text()
        err = (results / f"{n}.err").read_text()
        if code != command.exit_code:
            problems.append(
                f"line {command.line}: exit {code}, expected {command.exit_code}\n"
                f"{command.text}\n--- stderr:\n{err[-1500:]}"
            )
        problems.extend(
            f"line {command.line}: the output lacks {expected!r}\n{command.text}\n"
            f"--- stdout and stderr:\n{(out + err)[-1500:]}"
            for expected in command.expected
            if not matches(expected, out + err)
        )
    if problems:
        pytest.fail("README.md:\n\n" + "\n\n".join(problems))
