"""`python -m dagrun`, the same as the `dagrun` command."""

from dagrun.cli import main

if __name__ == "__main__":  # not when a worker process re-imports the main module
    main()
