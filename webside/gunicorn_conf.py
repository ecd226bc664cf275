"""gunicorn settings for the web side: `gunicorn -c python:webside.gunicorn_conf`.

Rules:
1. A request mostly waits: on the daemon, then on a job's output, for up
   to HOLE_TIMEOUT seconds. Threads are cheap waiters, so each worker runs
   many (gthread) instead of one request per process (sync).
2. The worker timeout is longer than the longest job, so gunicorn never
   kills a worker that is only waiting on a slow report.
"""

import os

from webside.settings import SETTINGS

_DEFAULT_TIMEOUT = next(s.default for s in SETTINGS if s.name == "HOLE_TIMEOUT")

wsgi_app = "webside.wsgi:app"

# Threads, not processes: a streamed report holds its thread for as long as
# the job runs, and 2 x 32 threads let 64 reports run at once in the memory
# of two Python processes. Two workers so one crash leaves the site up.
worker_class = "gthread"
workers = int(os.environ.get("HOLE_WEB_WORKERS", "2"))
threads = int(os.environ.get("HOLE_WEB_THREADS", "32"))

# HOLE_TIMEOUT is read the way the app reads it (a number of seconds in the
# environment); the margin covers the time to render the last of the page.
timeout = int(float(os.environ.get("HOLE_TIMEOUT", _DEFAULT_TIMEOUT))) + 30
graceful_timeout = 30
keepalive = 5

# The launcher passes its own --bind (a socket it opened outside the jail).
bind = [os.environ.get("HOLE_WEB_BIND", "127.0.0.1:8000")]

# gunicorn's control socket would live in $HOME, which the jail does not
# have (and a read-only root could not hold); nothing here uses it.
control_socket_disable = True

accesslog = "-"
errorlog = "-"
