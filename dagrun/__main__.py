"""`python -m dagrun`, the same as the `dagrun` command."""

from dagrun.cli import main

main()
