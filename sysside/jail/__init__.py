"""The jail: building it, setting its permissions, and auditing it.

Everything here runs outside the jail, as root; none of it is ever copied in.
"""

from sysside import DaemonError


class JailError(DaemonError):
    """The jail cannot be built, fixed or read; the message says what and where."""
