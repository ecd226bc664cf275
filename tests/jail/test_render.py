"""The web side inside the jail, as the web user: every page, under gunicorn and called directly."""

from pathlib import Path

import pytest

from tests.jail.conftest import BuiltJail
from tests.jail.support import csrf_token, gunicorn_in_jail, jail_python, json_lines, session_cookie
from webside.approval import approved_stub_files, stub_files

pytestmark = pytest.mark.root

# Calls the app as a WSGI server would: the test client is not part of the
# web side, so the jail does not have it.
WSGI_SCRIPT = """
import io, json, os, sys
os.environ["HOLE_SECRET_KEY"] = "k" * 64
os.environ["HOLE_DEV"] = "true"
from webside import create_app
app = create_app()

def call(path, query=""):
    environ = {
        "REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": query, "SERVER_NAME": "jail",
        "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(), "wsgi.errors": sys.stderr, "wsgi.version": (1, 0),
        "wsgi.multithread": False, "wsgi.multiprocess": False, "wsgi.run_once": False,
    }
    status = []
    body = b"".join(app(environ, lambda s, headers, exc_info=None: status.append(s)))
    return [int(status[0].split()[0]), body.decode()]

names = sorted(app.extensions["hole_registry"].reports)
pages = {}
for lang in ("en", "fr"):
    pages[f"/?lang={lang}"] = call("/", f"lang={lang}")
    pages[f"/nope?lang={lang}"] = call("/r/no_such_report", f"lang={lang}")
    for name in names:
        pages[f"/r/{name}?lang={lang}"] = call(f"/r/{name}", f"lang={lang}")
pages["/static/style.css"] = call("/static/style.css")
print(json.dumps({"names": names, "pages": pages}))
"""


def test_every_page_renders_when_called_directly(built_jail: BuiltJail, permed_changes: list[str]) -> None:
    del permed_changes
    done = jail_python(built_jail.path, WSGI_SCRIPT, as_web=True)
    assert done.returncode == 0, done.stderr
    result = json_lines(done.stdout)
    assert isinstance(result, dict)
    assert result["names"] == [p.stem for p in stub_files(built_jail.stubs)]
    pages = result["pages"]
    for path, (status, body) in pages.items():
        expected = 404 if path.startswith("/nope") else 200
        assert status == expected, (path, body[-500:])
    for name in result["names"]:
        assert '<html lang="fr">' in pages[f"/r/{name}?lang=fr"][1]
        assert pages[f"/r/{name}?lang=fr"][1] != pages[f"/r/{name}?lang=en"][1]


def test_gunicorn_serves_every_page_inside_the_jail(
    built_jail: BuiltJail, permed_changes: list[str], tmp_path: Path
) -> None:
    del permed_changes
    names = [p.stem for p in stub_files(built_jail.stubs)]
    with gunicorn_in_jail(built_jail.path, tmp_path, dev=True) as served:
        for lang in ("en", "fr"):
            status, page, _ = served.get(f"/?lang={lang}")
            assert status == 200
            assert f'<html lang="{lang}">' in page
            assert all(f"/r/{name}" in page for name in names)
            assert served.get(f"/r/no_such_report?lang={lang}")[0] == 404
            for name in names:
                status, page, headers = served.get(f"/r/{name}?lang={lang}")
                assert status == 200, page[-500:]
                assert f'<html lang="{lang}">' in page
                # The form's own checks answer a post with empty fields.
                body = f"csrf_token={csrf_token(page)}"
                status, _, _ = served.request("POST", f"/r/{name}", body=body, cookie=session_cookie(headers))
                assert status in (400, 503), name
        for asset in ("style.css", "app.js"):
            status, text, _ = served.get(f"/static/{asset}")
            assert status == 200
            assert text == (Path(__file__).resolve().parents[2] / "webside/static" / asset).read_text()
    log = (tmp_path / "gunicorn.log").read_text(errors="replace")
    assert "Traceback" not in log, log


def test_only_approved_stubs_are_served_without_dev(
    built_jail: BuiltJail, permed_changes: list[str], tmp_path: Path
) -> None:
    del permed_changes
    approved = {p.stem for p in approved_stub_files(built_jail.stubs)}
    with gunicorn_in_jail(built_jail.path, tmp_path, dev=False) as served:
        for name in (p.stem for p in stub_files(built_jail.stubs)):
            status = served.get(f"/r/{name}")[0]
            assert status == (200 if name in approved else 404), name
