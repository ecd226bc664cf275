"""Reading `strace -f` logs: which system calls the jailed processes made.

The log comes from `strace -f -qq --decode-pids=pidns -o LOG` run around
a whole `hole up` (or `hole launch`): it holds the supervisor, the daemon
and its jobs too. Only the jail counts, found this way:

Rules:
1. The jail's first process is the one that loaded a seccomp filter
   (`seccomp(SECCOMP_SET_MODE_FILTER, ..., {len=N, ...}) = 0`): only the
   launcher's child does, last before its exec. Its calls count from the
   next execve on, that execve included, since the filter already judges it.
2. Every process and thread it starts, and theirs, is in the jail: the
   child's host pid is read from the clone/fork result (strace's
   `/* PID in strace's PID NS */` note, as the jail has a pid namespace of
   its own), never guessed from the order of the lines.
3. A call counts where it starts (its name and first arguments), even if
   it never returned (`exit_group`, or a worker killed while waiting).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum

# pid  name(args...   |  pid  <... name resumed>...
_LINE = re.compile(r"(?P<pid>\d+)\s+(?P<rest>.*)")
_CALL = re.compile(r"(?P<name>[a-z_][a-z0-9_]*)\((?P<args>.*)")
_RESUMED = re.compile(r"<\.\.\. (?P<name>[a-z_][a-z0-9_]*) resumed>(?P<tail>.*)")
# = 5 /* 12345 in strace's PID NS */   or   = 12345
_RESULT = re.compile(r"=\s+(?P<value>-?\d+)(?:\s+/\*\s+(?P<host>\d+) in strace's PID NS \*/)?")
# seccomp(SECCOMP_SET_MODE_FILTER, FLAGS, {len=N, filter=ADDR}) = 0  (a probe passes no program)
_FILTER_LOADED = re.compile(r"SECCOMP_SET_MODE_FILTER, [^,]*, \{len=\d+")
_SUCCEEDED = re.compile(r"\)?\s*=\s+0\b")
_ERRNO = re.compile(r"=\s+-1\s+(?P<errno>E[A-Z0-9]+)")
# ARGS) = RESULT, strace padding the "=" to a column: the last ") =" ends the arguments.
_FINISHED = re.compile(r"(?P<args>.*)\)\s+=\s+(?P<result>.*)")
_FORKS = frozenset({"clone", "clone3", "fork", "vfork"})
# Arguments worth keeping beside the name: which ioctl request, socket family,
# prctl option or fcntl command (the index of the argument in strace's text).
DETAIL_ARGUMENT = {"ioctl": 1, "socket": 0, "socketpair": 0, "prctl": 0, "fcntl": 1}


class Role(Enum):
    """Who in the jail made a call: gunicorn's arbiter, or a worker (threads included)."""

    ARBITER = "arbiter"
    WORKER = "worker"


@dataclass
class Call:
    pid: int
    name: str
    args: str
    result: str = ""

    @property
    def errno(self) -> str:
        found = _ERRNO.search(self.result)
        return found.group("errno") if found else ""

    def detail(self) -> str:
        """The interesting argument of the call (see DETAIL_ARGUMENT), or ""."""
        index = DETAIL_ARGUMENT.get(self.name)
        if index is None:
            return ""
        parts = _split_args(self.args)
        return parts[index] if index < len(parts) else ""


@dataclass
class JailTrace:
    """The jailed processes' calls, in log order, and who started whom."""

    root: int
    calls: list[Call] = field(default_factory=list)
    parent: dict[int, int] = field(default_factory=dict)
    threads: set[int] = field(default_factory=set)

    def role(self, pid: int) -> Role:
        """The arbiter (the jail's first process and its threads) or a worker (anything it forked)."""
        while pid != self.root:
            if pid not in self.threads:
                return Role.WORKER
            pid = self.parent[pid]
        return Role.ARBITER

    def names(self, role: Role | None = None) -> set[str]:
        return {c.name for c in self.calls if role is None or self.role(c.pid) is role}

    def details(self) -> dict[str, set[str]]:
        """For each call of DETAIL_ARGUMENT, the argument values seen (ioctl requests, socket families...)."""
        found: dict[str, set[str]] = {}
        for call in self.calls:
            value = call.detail()
            if value:
                found.setdefault(call.name, set()).add(value)
        return found

    def counts(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for call in self.calls:
            found[call.name] = found.get(call.name, 0) + 1
        return found

    def refused(self, errnos: Iterable[str]) -> list[Call]:
        """The calls that failed with one of `errnos` (what the filter answers)."""
        wanted = set(errnos)
        return [call for call in self.calls if call.errno in wanted]


class TraceError(Exception):
    """The log shows no jail, or cannot be read as strace's."""


def _split_args(args: str) -> list[str]:
    """strace's argument text split at top-level commas (good enough for the first few arguments)."""
    parts: list[str] = []
    depth = 0
    quoted = False
    current: list[str] = []
    previous = ""
    for char in args:
        if quoted:
            current.append(char)
            if char == '"' and previous != "\\":
                quoted = False
        elif char == '"':
            quoted = True
            current.append(char)
        elif char in "([{":
            depth += 1
            current.append(char)
        elif char in ")]}":
            if depth == 0:
                break
            depth -= 1
            current.append(char)
        elif char == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(char)
        previous = char
    tail = "".join(current).strip()
    if tail and not tail.startswith("<unfinished"):
        parts.append(tail)
    return parts


def _child_pid(result: str) -> int | None:
    found = _RESULT.search(result)
    if found is None or int(found.group("value")) <= 0:
        return None
    return int(found.group("host") or found.group("value"))


def parse(lines: Iterable[str]) -> JailTrace:
    """The jail's calls from an strace -f log; TraceError if no process loaded a filter and exec'd.

    Two passes: a new process's first lines may come before its parent's
    clone result, so who is in the jail is known only once the log is read.
    """
    calls = _read_calls(lines)
    root, first = _jail_root(calls)
    children: dict[int, list[tuple[int, Call]]] = {}
    for index, call in enumerate(calls):
        # The launcher's own children before its exec (ldconfig, run by
        # ctypes.util to find libseccomp) are not in the jail.
        if call.name in _FORKS and (call.pid != root or index > first):
            child = _child_pid(call.result)
            if child is not None:
                children.setdefault(call.pid, []).append((child, call))
    trace = JailTrace(root=root)
    frontier = [root]
    while frontier:
        parent = frontier.pop()
        for child, call in children.get(parent, []):
            if child in trace.parent or child == root:
                continue
            trace.parent[child] = parent
            if "CLONE_THREAD" in call.args:
                trace.threads.add(child)
            frontier.append(child)
    jailed = {root, *trace.parent}
    trace.calls = [
        call for index, call in enumerate(calls) if call.pid in jailed and (call.pid != root or index >= first)
    ]
    return trace


def _read_calls(lines: Iterable[str]) -> list[Call]:
    """Every call of the log in the order they started, each with its result once strace printed it."""
    calls: list[Call] = []
    # Started calls still waiting for their result, by pid.
    pending: dict[int, Call] = {}
    for raw in lines:
        line = _LINE.fullmatch(raw.rstrip("\n"))
        if line is None:
            continue
        pid, rest = int(line.group("pid")), line.group("rest")
        resumed = _RESUMED.match(rest)
        if resumed is not None:
            waiting = pending.pop(pid, None)
            finished = _FINISHED.fullmatch(resumed.group("tail"))
            if waiting is not None and finished is not None:
                waiting.result = f"= {finished.group('result')}"
            continue
        started = _CALL.match(rest)
        if started is None:
            continue  # signals (---), exits (+++)
        if rest.endswith("<unfinished ...>"):
            call = Call(pid, started.group("name"), started.group("args").removesuffix("<unfinished ...>").rstrip())
            pending[pid] = call
        else:
            finished = _FINISHED.fullmatch(started.group("args"))
            if finished is None:
                raise TraceError(f"cannot read this strace line: {raw!r}")
            call = Call(pid, started.group("name"), finished.group("args"), f"= {finished.group('result')}")
        calls.append(call)
    return calls


def _jail_root(calls: list[Call]) -> tuple[int, int]:
    """The pid that loaded a filter and then exec'd, and the index of that execve (rule 1)."""
    loaded: set[int] = set()
    for index, call in enumerate(calls):
        if call.name == "seccomp" and _FILTER_LOADED.match(call.args) and _SUCCEEDED.match(call.result.strip()):
            loaded.add(call.pid)
        elif call.name == "execve" and call.pid in loaded:
            return call.pid, index
    raise TraceError("no process in the log loaded a seccomp filter and then called execve")
