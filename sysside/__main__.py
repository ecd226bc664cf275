"""`python -m sysside` is `hole`."""

from sysside.cli import main

main()
