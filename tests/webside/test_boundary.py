"""The web side lives in the jail: it must never import the sys side."""

import ast
import os
import subprocess
import sys

from tests.webside.support import PROJECT_DIR

PROBE = """
import sys
from webside import create_app
app = create_app({"TESTING": True})
client = app.test_client()
client.get("/")
client.get("/r/b12")
import webside.scaffold, webside.gunicorn_conf
print(sorted(name for name in sys.modules if name.split(".")[0] == "sysside"))
"""


def test_no_module_of_the_web_side_names_sysside() -> None:
    for path in (PROJECT_DIR / "webside").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            assert not any(name.split(".")[0] == "sysside" for name in names), path


def test_running_the_web_side_loads_no_sysside_module() -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("HOLE_")}
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=PROJECT_DIR, env=env, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
