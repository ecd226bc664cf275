"""The second stop for user namespaces: the kernel's own, for a jail that counts as chrooted.

seccomp refuses unshare and clone's namespace flags in the jail (the
attack suite shows it). This checks what holds without seccomp: a process
pivoted straight into a folder (its root is the mount namespace's root)
may make a user namespace (the control); one that entered it as the
launcher does (enter_jail: the folder below an empty tmpfs root) may not,
and sees the same files, `..` included.
"""

import ctypes
import json
import os
from pathlib import Path

import pytest

from sysside.launcher import enter_jail
from sysside.linux import CLONE_NEWNS, MNT_DETACH, MS_BIND, MS_PRIVATE, MS_REC, mount, pivot_root, umount2, unshare
from sysside.users import ensure_users

pytestmark = pytest.mark.root

CLONE_NEWUSER = 0x10000000


def _unshare_user_after_pivot(root: Path, launcher_way: bool) -> dict[str, object]:
    """In a child: enter `root` (plainly, or as the launcher does), drop to the web user, try a user namespace."""
    web, _, _ = ensure_users()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        answer: dict[str, object] = {}
        try:
            os.close(read_end)
            unshare(CLONE_NEWNS)
            mount("none", "/", None, MS_REC | MS_PRIVATE)
            mount(str(root), str(root), None, MS_BIND | MS_REC)
            if launcher_way:
                enter_jail(root)
            else:
                os.chdir(root)
                pivot_root(".", ".")
                umount2(".", MNT_DETACH)
                os.chroot(".")
                os.chdir("/")
            answer["sees"] = sorted(os.listdir("/"))
            answer["sees_from_usr"] = sorted(os.listdir("/usr/.."))
            os.setgroups([])
            os.setgid(web.gid)
            os.setuid(web.uid)
            libc = ctypes.CDLL(None, use_errno=True)
            done = libc.unshare(CLONE_NEWUSER)
            answer["unshare"] = "ok" if done == 0 else os.strerror(ctypes.get_errno())
        except Exception as exc:
            answer["error"] = repr(exc)
        finally:
            os.write(write_end, json.dumps(answer).encode())
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as reader:
        text = reader.read()
    os.waitpid(pid, 0)
    result = json.loads(text)
    assert isinstance(result, dict)
    return result


@pytest.fixture
def tiny_root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "usr").mkdir(parents=True)
    tmp_path.chmod(0o755)
    root.chmod(0o755)
    return root


def test_pivoted_straight_into_a_folder_a_process_can_make_a_user_namespace(tiny_root: Path) -> None:
    # The positive control: without this, the next test could pass because
    # user namespaces are off on the machine.
    assert _unshare_user_after_pivot(tiny_root, launcher_way=False) == {
        "sees": ["usr"],
        "sees_from_usr": ["usr"],
        "unshare": "ok",
    }


def test_entered_as_the_launcher_does_the_kernel_refuses_and_the_jail_looks_the_same(tiny_root: Path) -> None:
    assert _unshare_user_after_pivot(tiny_root, launcher_way=True) == {
        "sees": ["usr"],
        "sees_from_usr": ["usr"],
        "unshare": os.strerror(1),  # EPERM
    }
