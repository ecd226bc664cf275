"""The machine a benchmark ran on, so that figures from two machines are never compared blind."""

import os
import platform
import sys
from pathlib import Path

from sysside.cgroup_tuning import favordynmods_state
from sysside.spawn import spawner_name


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gb() -> float:
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / (1024 * 1024)
    except OSError:
        pass
    return 0.0


def describe() -> dict[str, str]:
    """CPU model and count, memory, kernel, Python, cgroup2 favordynmods, the step spawner, and the load average now."""
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    return {
        "cpu": _cpu_model(),
        "cpus": str(os.cpu_count() or 0),
        "memory": f"{_memory_gb():.1f} GB",
        "kernel": f"{platform.system()} {platform.release()}",
        # Which build, not only which version: a distribution's and a
        # self-built interpreter of one version differ in speed.
        "python": f"{platform.python_version()} ({os.path.realpath(sys.executable)})",
        "load": load,
        "favordynmods": favordynmods_state(),
        "spawner": spawner_name(),
        "idle": _idle_driver(),
    }


def _idle_driver() -> str:
    """The cpuidle driver, with haltpoll's polling window when it has one: it sets what a wake-up costs."""
    base = Path("/sys/devices/system/cpu/cpuidle")
    try:
        driver = (base / "current_driver").read_text(encoding="ascii").strip()
    except OSError:
        return "unknown"
    try:
        window = Path("/sys/module/haltpoll/parameters/guest_halt_poll_ns").read_text(encoding="ascii").strip()
    except OSError:
        return driver
    return f"{driver}, guest_halt_poll_ns={window}"
