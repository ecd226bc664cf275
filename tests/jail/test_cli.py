"""`hole jail build|perms|check` as commands: what they print and how they exit."""

from pathlib import Path

import pytest
from click.testing import CliRunner

from sysside.commands.jail import jail_group
from tests.jail.conftest import BuiltJail, copy_jail


def test_check_of_a_missing_jail_says_what_to_do(tmp_path: Path) -> None:
    result = CliRunner().invoke(jail_group, ["check", "--jail", str(tmp_path / "none")])
    assert result.exit_code == 1
    assert "build the jail first" in result.output


@pytest.mark.root
def test_build_perms_check_on_a_built_jail(built_jail: BuiltJail, permed_changes: list[str]) -> None:
    del permed_changes
    runner = CliRunner()
    jail = str(built_jail.path)
    built = runner.invoke(jail_group, ["build", "--jail", jail, "--stubs", str(built_jail.stubs)])
    assert built.exit_code == 0, built.output
    assert built.stdout.splitlines()[-1].startswith(f"jail {jail}: ")
    assert "0 change(s)" in built.stdout
    assert "MB in" in built.stdout
    permed = runner.invoke(jail_group, ["perms", "--jail", jail])
    assert permed.exit_code == 0, permed.output
    assert permed.stdout == f"jail {jail}: nothing changed\n"
    checked = runner.invoke(jail_group, ["check", "--jail", jail])
    assert checked.exit_code == 0, checked.output
    assert checked.stdout.startswith(f"jail {jail}: clean (")


@pytest.mark.root
def test_check_names_each_offending_path_and_exits_1(
    built_jail: BuiltJail, permed_changes: list[str], tmp_path: Path
) -> None:
    del permed_changes
    jail = copy_jail(built_jail.path, tmp_path / "jail")
    state = tmp_path / "state"
    state.mkdir()
    (state / "secret_key").write_text("a1b2c3d4e5f6-state-key\n")
    (jail / "srv/hole/config.py").write_text("KEY = 'a1b2c3d4e5f6-state-key'\n")
    (jail / "usr/lib/gcc").write_text("")
    result = CliRunner().invoke(jail_group, ["check", "--state", str(state), "--jail", str(jail)])
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        "srv/hole/config.py: holds the web side's secret key",
        "usr/lib/gcc: a compiler, assembler or linker",
    ]
    assert f"jail {jail}: 2 problem(s)" in result.stderr
