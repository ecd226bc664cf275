"""HTTP load with wrk: a bounded run of form POSTs at a fixed number of connections.

Rules:
1. Every answer is checked, not only counted: a 2xx whose body lacks the
   target's expected output counts as wrong, and wrk counts the others
   (non-2xx, connection errors, timeouts); a 503 that is the target's busy
   page counts as busy. A run of error pages measures nothing, so the
   caller sees these counts beside the rates.
2. The figures come from wrk's own summary (its Lua done() hook), in
   microseconds, not from its rounded text output.
"""

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field

from sysside.bench.targets import FORM_TYPE, Target

WRK = shutil.which("wrk", path="/usr/bin:/usr/local/bin") or "/usr/bin/wrk"
MARK = "WRK_FIGURES "
# A request slower than this counts as a wrk timeout error.
REQUEST_TIMEOUT = "30s"

SCRIPT = """\
wrk.method = "POST"
wrk.body = {body}
wrk.headers["Content-Type"] = {content_type}
{headers}
local expect = {expect}
local busy_mark = {busy_mark}
local threads = {{}}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  wrong = 0
  busy = 0
  statuses = {{}}
end

function response(status, headers, body)
  if status == 503 and busy_mark ~= "" and string.find(body, busy_mark, 1, true) then
    busy = busy + 1
  elseif status < 200 or status >= 300 then
    statuses[status] = (statuses[status] or 0) + 1
  elseif not string.find(body, expect, 1, true) then
    wrong = wrong + 1
  end
end

function done(summary, latency, requests)
  local bad = 0
  local turned_away = 0
  local codes = {{}}
  for _, thread in ipairs(threads) do
    bad = bad + thread:get("wrong")
    turned_away = turned_away + thread:get("busy")
    for status, count in pairs(thread:get("statuses")) do
      codes[status] = (codes[status] or 0) + count
    end
  end
  local listed = {{}}
  for status, count in pairs(codes) do
    table.insert(listed, string.format('"%d": %d', status, count))
  end
  local e = summary.errors
  io.write(string.format(
    '{mark}{{"requests": %d, "duration_us": %d, "p50_us": %.1f, "p99_us": %.1f, "max_us": %.1f, '
      .. '"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d, "wrong": %d, '
      .. '"busy": %d, "statuses": {{%s}}}}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.status, e.timeout, bad, turned_away, table.concat(listed, ", ")))
end
"""


class WrkError(Exception):
    """wrk failed to run or gave no figures; the message holds its output."""


@dataclass(frozen=True)
class Load:
    """One wrk run's figures: rates, latencies (ms) and what went wrong."""

    connections: int
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    non2xx: int
    errors: int
    wrong: int
    busy: int = 0
    statuses: dict[int, int] = field(default_factory=dict)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    @property
    def failed(self) -> int:
        """Answers that were not the job's output: busy pages, other bad statuses, wrong bodies, or none at all."""
        return self.non2xx + self.errors + self.wrong


def _lua_string(text: str) -> str:
    # Three-digit decimal escapes for everything but letters and digits:
    # valid in every Lua, whatever the text holds.
    return '"' + "".join(c if c.isascii() and c.isalnum() else f"\\{ord(c):03d}" for c in text) + '"'


def script(target: Target) -> str:
    """The Lua script that POSTs `target`'s body and checks each answer."""
    headers = "\n".join(f"wrk.headers[{_lua_string(k)}] = {_lua_string(v)}" for k, v in target.headers.items())
    return SCRIPT.format(
        body=_lua_string(target.body),
        content_type=_lua_string(FORM_TYPE),
        headers=headers,
        expect=_lua_string(target.expect),
        busy_mark=_lua_string(target.busy_mark),
        mark=MARK,
    )


def run(target: Target, connections: int, seconds: int, threads: int | None = None) -> Load:
    """Load `target` with `connections` open connections for `seconds` seconds."""
    if threads is None:
        # The load generator shares the machine with the servers: one
        # thread per two CPUs leaves them the rest.
        threads = max(1, (os.cpu_count() or 2) // 2)
    threads = min(threads, connections)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", encoding="ascii") as lua:
        lua.write(script(target))
        lua.flush()
        argv = [WRK, "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s"]
        argv += ["--timeout", REQUEST_TIMEOUT, "-s", lua.name, target.url]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60, check=False)
    for line in done.stdout.splitlines():
        if line.startswith(MARK):
            figures = json.loads(line[len(MARK) :])
            return Load(
                connections=connections,
                requests=figures["requests"],
                seconds=figures["duration_us"] / 1e6,
                p50_ms=figures["p50_us"] / 1000,
                p99_ms=figures["p99_us"] / 1000,
                non2xx=figures["status"],
                errors=figures["connect"] + figures["read"] + figures["write"] + figures["timeout"],
                wrong=figures["wrong"],
                busy=figures["busy"],
                statuses={int(code): count for code, count in figures["statuses"].items()},
            )
    raise WrkError(f"wrk gave no figures (exit {done.returncode}):\n{done.stdout}\n{done.stderr}")
