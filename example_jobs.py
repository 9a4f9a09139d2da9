"""Jobs for stages.example.yaml: one function per stage, named after it.

Each stage pretends to work for a moment. To see a failure and a resume, make a stage fail:

    DAGRUN_EXAMPLE_FAIL=Coverage dagrun run stages.example.yaml --jobs example_jobs
    dagrun run stages.example.yaml --jobs example_jobs      # runs only what did not succeed
"""

import os
import subprocess
import sys
import time

SPEED = float(os.environ.get("DAGRUN_EXAMPLE_SPEED", "1"))  # 0 makes every stage instant


def _work(stage: str, seconds: float) -> None:
    print(f"{stage}: working for {seconds * SPEED:.1f}s")
    time.sleep(seconds * SPEED)
    if stage in os.environ.get("DAGRUN_EXAMPLE_FAIL", "").split(","):
        raise RuntimeError(f"{stage} failed because DAGRUN_EXAMPLE_FAIL asked it to")


def Lint() -> None:
    _work("Lint", 1.5)
    # In a stage, sys.stdout is the stage's log file: a program given it writes there too (see
    # `dagrun logs Lint`). Without it, a program's output goes to the log when the stage runs alone,
    # and above the progress (and into .dagrun/logs/run-output.log) when others run beside it.
    subprocess.run([sys.executable, "-c", "print('lint: 0 problems in 5 files')"], stdout=sys.stdout, check=True)


def Test() -> None:
    _work("Test", 2.5)


def Coverage() -> None:
    _work("Coverage", 2.0)


def Docs() -> None:
    _work("Docs", 1.0)


def Benchmark() -> None:
    _work("Benchmark", 3.0)
