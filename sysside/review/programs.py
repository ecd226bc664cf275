"""What a step's program is: a shell, an interpreter given program text, or a file the web side could change.

Rules:
1. A step never runs a shell: its argv is one program's, and a shell would
   read a field as code. Programs that hand their arguments to a shell
   (watch, ssh, su) count as shells.
2. An interpreter may run a script file, never program text from the job
   map (`python -c`, `perl -e`, `node --eval`, an inline awk program), and
   never a program read from its standard input, which the job's fields
   fill. `env` and wrappers such as `nice` or `timeout` are looked through.
3. A program the web side's user could change, or replace through a
   directory it can write, runs the web side's code outside the jail.
"""

import os
import re
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

SHELLS = frozenset(
    {"sh", "bash", "dash", "zsh", "ksh", "mksh", "pdksh", "ash", "rbash", "csh", "tcsh", "fish", "busybox"}
    | {"watch", "ssh", "su", "script"}
)
# Programs that run another program given later in their argv.
WRAPPERS = frozenset(
    {"env", "nice", "nohup", "setsid", "stdbuf", "timeout", "ionice", "chrt", "taskset", "flock", "time", "xargs"}
    | {"sudo", "doas", "runuser", "chroot", "unshare", "prlimit", "systemd-run"}
)


@dataclass(frozen=True, slots=True)
class Interpreter:
    """How one interpreter family takes program text, options with values, and a script."""

    pattern: re.Pattern[str]
    code_letters: str = ""
    code_long: frozenset[str] = frozenset()
    # Short options whose value follows (attached or as the next argument).
    value_letters: str = ""
    # Options that name the program to run instead of a script operand.
    script_letters: str = ""
    # awk: the first operand is the program text itself.
    inline_operand: bool = False


INTERPRETERS = (
    Interpreter(re.compile(r"(python|pypy)[0-9.]*"), "c", frozenset(), "WXQ", "m"),
    Interpreter(re.compile(r"perl[0-9.]*"), "eE", frozenset(), "IMmlx0CdD"),
    Interpreter(re.compile(r"ruby[0-9.]*"), "e", frozenset(), "IrCEFxT0"),
    Interpreter(re.compile(r"node(js)?|deno|bun"), "ep", frozenset({"--eval", "--print"}), "r"),
    Interpreter(
        re.compile(r"php[0-9.]*"),
        "rBRE",
        frozenset({"--run", "--process-begin", "--process-code", "--process-end"}),
        "cdz",
        "f",
    ),
    Interpreter(re.compile(r"lua(jit)?[0-9.]*"), "e", frozenset(), "l"),
    Interpreter(re.compile(r"(tclsh|wish)[0-9.]*")),
    Interpreter(re.compile(r"Rscript"), "e"),
    Interpreter(re.compile(r"julia[0-9.]*"), "eE", frozenset({"--eval", "--print"})),
    Interpreter(re.compile(r"[gmn]?awk"), "e", frozenset({"--source"}), "vF", "f", inline_operand=True),
)


def interpreter_of(name: str) -> Interpreter | None:
    """The interpreter family a program's base name belongs to, if any."""
    for interpreter in INTERPRETERS:
        if interpreter.pattern.fullmatch(name):
            return interpreter
    return None


def command_problems(names: Sequence[str], argv: Sequence[str | None]) -> Iterator[tuple[int, str]]:
    """(argv index, problem) for a step whose program has base names `names` (as written, resolved).

    `argv` holds the literal arguments after the program; None stands for
    one filled by a placeholder, whose value is not known here.
    """
    for name in names:
        if name in SHELLS:
            yield 0, f"runs a shell ({name}): a step runs one program with its own argv, never through a shell"
            return
    for name in names:
        interpreter = interpreter_of(name)
        if interpreter is not None:
            yield from _interpreter_problems(name, interpreter, argv)
            return
    if any(name in WRAPPERS for name in names):
        for index, element in enumerate(argv, 1):
            if element is None:
                continue
            if "env" in names and (element.startswith("-S") or element.startswith("--split-string")):
                yield index, f"{element!r} makes {names[0]} split a string into a command line, as a shell would"
                return
            inner = os.path.basename(element)
            if inner in SHELLS or interpreter_of(inner) is not None or inner in WRAPPERS:
                for inner_index, problem in command_problems([inner], argv[index:]):
                    yield index + inner_index, problem
                return


def _interpreter_problems(name: str, interpreter: Interpreter, argv: Sequence[str | None]) -> Iterator[tuple[int, str]]:
    skip_next = False
    for index, element in enumerate(argv, 1):
        if skip_next:
            skip_next = False
            continue
        if element is None:
            yield index, f"a field fills an argument of the interpreter {name}, which could then read it as code"
            return
        if element in ("-", "--") or not element.startswith("-"):
            if element == "-":
                yield index, f"{name} reads its program from standard input, which the job's fields fill"
            elif interpreter.inline_operand and element != "--":
                yield index, f"{element[:40]!r} is an inline {name} program: put it in a file and pass it with -f"
            return
        if element.startswith("--"):
            option = element.split("=", 1)[0]
            if option in interpreter.code_long:
                yield index, f"{option} makes {name} run program text from the job map: put it in a script file"
                return
            continue
        for position, letter in enumerate(element[1:], 1):
            if letter in interpreter.code_letters:
                yield index, f"-{letter} makes {name} run program text from the job map: put it in a script file"
                return
            if letter in interpreter.script_letters:
                return
            if letter in interpreter.value_letters:
                skip_next = position == len(element) - 1
                break
    if not interpreter.inline_operand:
        yield 0, f"{name} is given no script, so it reads its program from standard input, which the job's fields fill"


@dataclass(frozen=True, slots=True)
class WebUser:
    """The web side's user as the host sees it: uid and every gid it holds."""

    uid: int
    gids: frozenset[int]


def writable_by(path: Path, user: WebUser) -> str | None:
    """Why `user` could change `path`, or None. Its owner can always chmod it."""
    try:
        info = os.stat(path)
    except OSError as exc:
        return f"{path} cannot be checked: {exc.strerror}"
    mode = info.st_mode
    if info.st_uid == user.uid:
        return f"{path} belongs to uid {user.uid}"
    if stat.S_ISDIR(mode) and mode & stat.S_ISVTX:
        # In a sticky folder only an entry's owner may rename or remove it.
        return None
    if info.st_gid in user.gids and mode & stat.S_IWGRP:
        return f"{path} is writable by its group, gid {info.st_gid}, which uid {user.uid} is in"
    if mode & stat.S_IWOTH:
        return f"{path} is writable by everyone"
    return None


def program_writable(program: Path, user: WebUser) -> list[str]:
    """Why `user` could change the program or replace it: the file and every folder above it."""
    real = Path(os.path.realpath(program))
    candidates = [real, *real.parents, *Path(os.path.abspath(program)).parents]
    seen: set[Path] = set()
    reasons = []
    for path in candidates:
        if path in seen:
            continue
        seen.add(path)
        reason = writable_by(path, user)
        if reason is not None:
            reasons.append(reason)
    return reasons
