"""Names in the spool, the only directory both sides see.

    <spool>/daemon             FIFO    web -> sys: request lines
    <spool>/jobs/              dir     one sub-directory per job
    <spool>/jobs/<id>/input    file    web -> sys: the job's fields
    <spool>/jobs/<id>/result   FIFO    sys -> web: the framed result

These are names only; the sides open them with their own care.
"""

DAEMON_FIFO = "daemon"
JOBS_DIR = "jobs"
INPUT_FILE = "input"
RESULT_FIFO = "result"
