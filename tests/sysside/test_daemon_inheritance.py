"""What the daemon drops at start of what it inherited (sysside/daemon.py, _shed_inheritance)."""

import subprocess
import sys

SCRIPT = """
import fcntl, os, signal
from sysside.daemon import _shed_inheritance
devnull = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
handed = fcntl.fcntl(devnull, fcntl.F_DUPFD, 50)  # inheritable, as pass_fds leaves it
signal.signal(signal.SIGUSR1, signal.SIG_IGN)
signal.signal(signal.SIGCHLD, signal.SIG_IGN)
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR2})
_shed_inheritance()
print(
    os.get_inheritable(handed),
    signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL,
    signal.getsignal(signal.SIGCHLD) == signal.SIG_DFL,
    signal.pthread_sigmask(signal.SIG_BLOCK, set()) == set(),
    signal.getsignal(signal.SIGPIPE) == signal.SIG_IGN,
)
"""


def test_the_daemon_sheds_what_it_inherited() -> None:
    # An inheritable fd, ignored signals (an ignored SIGCHLD would reap the
    # steps before the daemon could) and a blocked one: none of them may
    # reach a step. Python's own ignored SIGPIPE stays (the spawner resets it).
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=30, check=True)
    assert done.stdout.split() == ["False", "True", "True", "True", "True"], done.stderr
