"""`python -m dagrun`, the same as the `dagrun` command."""

import os
import sys

if __name__ == "__main__":  # not when a worker process re-imports the main module
    # `-m` puts the current folder first on sys.path, where a `queue.py` or `json.py` beside the
    # jobs would replace the standard library's module inside dagrun. The `dagrun` command has no
    # such entry; the jobs loader adds the folders it needs after everything else.
    if sys.path and sys.path[0] in ("", os.getcwd()):
        del sys.path[0]

    from dagrun.cli import main

    main()
