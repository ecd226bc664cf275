"""Every size limit of the protocol, in one place.

Rule: a parser checks the limit before it buffers more than the limit
allows; no parser may hold more than these numbers in memory.
"""

# A request line is written with one write() call; POSIX makes writes of at
# most PIPE_BUF bytes to a FIFO atomic, so concurrent web workers never
# interleave. Linux's PIPE_BUF is 4096.
PIPE_BUF = 4096
MAX_REQUEST_LINE = PIPE_BUF

MAX_JOB_NAME = 63
MAX_FIELD_NAME = 63
MAX_FIELDS = 256
# The default ceiling for a whole input file; a site may lower it per daemon.
MAX_INPUT_FILE = 256 * 1024

# A chunk header is "D" + at most 8 digits + LF.
MAX_CHUNK = 16 * 1024 * 1024
MAX_FRAME_HEADER = 1 + 8 + 1
MAX_STATUS = 64 * 1024
