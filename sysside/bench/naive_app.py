"""The naive baseline: a Flask view that runs the job itself with subprocess.run.

What a programmer would write without the hole: no jail, no daemon, no
form library, no CSRF, the output gathered whole. Served by gunicorn with
the web side's own settings (`-c python:webside.gunicorn_conf`), so the
difference to the product is what the product does per request.

HOLE_BENCH_DATA names the folder of the stream row's files.
"""

import os
import re
import subprocess

from flask import Flask, Response, abort, request

from sysside.bench import holecost, workload

app = Flask(__name__)
WORD = re.compile(r"[a-z]{1,16}")


@app.post("/bench3")
def bench3() -> Response:
    # The same checks as the job map's, the same argv, stdin and `&&`.
    values = [request.form.get(name, "") for name in holecost.FIELDS]
    if not all(WORD.fullmatch(value) for value in values):
        abort(400)
    output = b""
    for value in values:
        done = subprocess.run([holecost.CAT], input=f"{value}\n".encode(), stdout=subprocess.PIPE, check=False)
        if done.returncode != 0:
            abort(502)
        output = done.stdout
    return Response(output, mimetype="text/plain")


@app.post("/big")
def big() -> Response:
    size = request.form.get("size", "")
    if size not in workload.SIZES:
        abort(400)
    done = subprocess.run([holecost.CAT, size], cwd=os.environ["HOLE_BENCH_DATA"], stdout=subprocess.PIPE, check=False)
    if done.returncode != 0:
        abort(502)
    return Response(done.stdout, mimetype="text/plain")
