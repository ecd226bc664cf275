"""Install the demo programs as executable scripts.

Rules:
- A program's first line names the interpreter by its real absolute path:
  the daemon never searches PATH, and the `python3` on PATH may be a slow
  shim. `-IS` runs it isolated and without `site`, so it sees the stdlib only.
- The sources are the modules of `sysside.demo.programs`, copied verbatim
  after the `#!` line, so the linters check the code that runs.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from sysside.demo.files import write_atomically
from sysside.interpreter import shared_python

PROGRAMS = ("check_open", "authorize", "budget_12", "spending_csv", "ledger_csv", "yearend")

# Linux reads at most this many bytes of a `#!` line (BINPRM_BUF_SIZE).
SHEBANG_MAX = 255


def shebang() -> str:
    """Return the `#!` line for an interpreter the daemon's user can run, without the newline."""
    # The programs are stdlib only (-IS): any interpreter of this version
    # will do, and it must be one that holesys may run.
    interpreter = shared_python()
    line = f"#!{interpreter} -IS"
    # The kernel splits a `#!` line at the first blank, so a blank in the
    # path would run the wrong file; refuse rather than write a broken script.
    if any(char.isspace() for char in interpreter) or len(line) > SHEBANG_MAX:
        raise ValueError(
            f"cannot name the interpreter {interpreter!r} in a #! line: it holds a blank or"
            f" is longer than {SHEBANG_MAX - 6} characters. Run from a Python installed"
            " under a shorter path without blanks."
        )
    return line


def install_programs(bin_dir: Path) -> list[Path]:
    """Write every demo program into `bin_dir` (mode 0755); return their paths."""
    bin_dir.mkdir(mode=0o755, exist_ok=True)
    first_line = shebang()
    sources = resources.files("sysside.demo.programs")
    installed = []
    for name in PROGRAMS:
        source = sources.joinpath(f"{name}.py").read_text(encoding="utf-8")
        path = bin_dir / name
        write_atomically(path, f"{first_line}\n{source}".encode(), 0o755)
        installed.append(path)
    return installed
