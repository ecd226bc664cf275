"""The sys side: everything that runs outside the jail.

The listener daemon, the job map and its checks, the executor, the demo,
and the `hole` admin command. Nothing here may be copied into the jail.
"""


class DaemonError(Exception):
    """A fault of the sys side's own making or setup (bad map, bad spool)."""
