"""Sources of the demo's system-side programs.

Rules:
- Each module is a whole program: `init_demo` copies it into the demo's
  `bin/` behind a `#!<python> -IS` line. Isolated mode without `site` puts
  neither the script's folder nor any installed package on the path, so a
  program imports the stdlib only, never a sibling; the few lines they
  share are repeated on purpose.
- The database path comes from `FIS_DB` (absolute) and is opened read-only.
- Every failure prints one line, `program: reason`, to stderr and exits
  non-zero (1 for a refusal or a missing record, 2 for bad usage).
- Only `budget_12` is fragile, on purpose; the others check their input.
"""
