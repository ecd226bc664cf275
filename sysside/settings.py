"""The daemon's settings: each declared once, with its type, default and doc."""

import os
from dataclasses import dataclass, field, fields
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the listener daemon needs to start."""

    spool: Path
    jobs_file: Path
    max_jobs: int = field(
        default=max(4, 8 * (os.cpu_count() or 1)),
        metadata={"doc": "Jobs that may run at once; past this a job is answered busy at once, never queued."},
    )
    max_input: int = field(
        default=256 * 1024,
        metadata={"doc": "Largest input file accepted, in bytes; a larger one is refused unread."},
    )
    capture_limit: int = field(
        default=8 * 1024,
        metadata={"doc": "Bytes of each step's stderr (and non-final stdout) kept for the audit record."},
    )
    stale_after: float = field(
        default=3600.0,
        metadata={"doc": "Seconds after which an abandoned job directory in the spool is removed."},
    )
    sweep_interval: float = field(
        default=60.0,
        metadata={"doc": "Seconds between sweeps for abandoned job directories."},
    )
    web_uid: int | None = field(
        default=None,
        metadata={"doc": "Owner required of job files; by default the owner of the spool's jobs/ directory."},
    )
    cgroup: str | None = field(
        default=None,
        metadata={
            "doc": "Control group (relative to the cgroup roots) in which each job gets its own, with memory and"
            " pids limits from the job's limits; the daemon's user must own it."
        },
    )
    audit_file: Path | None = field(
        default=None,
        metadata={"doc": "Where audit records go (JSON lines); by default the log on stderr."},
    )
    realtime: bool = field(
        default=True,
        metadata={
            "doc": "Run the daemon at the lowest real-time priority when it may (root or CAP_SYS_NICE), so it answers"
            " a step's end at once; the steps themselves always start at normal priority."
        },
    )
    wake_latency: int | None = field(
        default=0,
        metadata={
            "doc": "CPU wake-up latency (µs) asked of the kernel from each job's start until a quarter second"
            " after the latest (/dev/cpu_dma_latency, root's to open); None: never ask."
        },
    )
    wake_latency_fd: int | None = field(
        default=None,
        metadata={"doc": "An open /dev/cpu_dma_latency handed over by root; by default the daemon opens it if it may."},
    )

    @classmethod
    def describe(cls) -> list[tuple[str, str]]:
        """(name, doc) of each setting, for help texts."""
        return [(f.name, str(f.metadata.get("doc", ""))) for f in fields(cls)]
