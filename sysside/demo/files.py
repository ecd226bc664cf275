"""Replace a file whole, so a reader never sees half of it."""

from __future__ import annotations

import os
from pathlib import Path


def write_atomically(path: Path, data: bytes, mode: int) -> None:
    """Write `data` to `path` with permission bits `mode`, replacing any file there.

    A daemon may run a program or reread the job map at any moment, so the
    new file is written beside the old one and renamed over it.
    """
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    partial.unlink(missing_ok=True)
    try:
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        # The umask may have cleared bits of `mode` at creation.
        partial.chmod(mode)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
