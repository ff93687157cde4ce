"""`python -m softswitch`, and the entry point of the frozen `dist/softswitch`."""

from softswitch.cli import main

main()
