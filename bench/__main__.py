"""`python -m bench`: the same command as `softswitch-bench`."""

from bench.cli import main

main()
