"""The state folder of a service: where `hole up` keeps everything it makes.

<state>/demo/         the demo's database, programs and jobs.toml (if used)
<state>/spool/        the spool shared with the web side
<state>/run/          pid files
<state>/logs/         the daemon's and the web side's logs
<state>/secret_key    the web side's session key (mode 0600)
"""

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from sysside import DaemonError


def default_state_dir() -> Path:
    """HOLE_STATE, else /var/lib/hole for root, else $XDG_STATE_HOME/hole."""
    if os.environ.get("HOLE_STATE"):
        return Path(os.environ["HOLE_STATE"])
    if os.geteuid() == 0:
        return Path("/var/lib/hole")
    xdg = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(xdg) / "hole"


@dataclass(frozen=True)
class StateDir:
    """Named paths inside one state folder."""

    root: Path

    @property
    def demo(self) -> Path:
        return self.root / "demo"

    @property
    def spool(self) -> Path:
        return self.root / "spool"

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    def pid_file(self, side: str) -> Path:
        return self.run / f"{side}.pid"

    def write_pid(self, side: str, pid: int) -> None:
        """Write `side`'s pid file whole or not at all: a reader (hole status) never sees it half-written."""
        path = self.pid_file(side)
        temporary = path.with_name(f".{path.name}.tmp")
        temporary.write_text(f"{pid}\n", encoding="ascii")
        temporary.replace(path)

    def log_file(self, side: str) -> Path:
        return self.logs / f"{side}.log"

    def prepare(self) -> None:
        """Create the folders; raise DaemonError saying why if it cannot."""
        try:
            for path in (self.root, self.run, self.logs):
                path.mkdir(parents=True, exist_ok=True)
            probe = self.root / ".write-test"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise DaemonError(f"state folder {self.root} is not usable: {exc.strerror or exc}") from None

    def secret_key(self) -> str:
        """The web side's session key, made once and kept private."""
        path = self.root / "secret_key"
        try:
            return path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            key = secrets.token_hex(32)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="ascii") as handle:
                handle.write(key + "\n")
            return key
