#!/usr/bin/env python3
"""dagrun's benchmark: dagrun and its baselines as whole processes, side by side, in one run.

    python benchmarks/run.py --quick          # under two minutes
    python benchmarks/run.py                  # up to 100,000 stages
    python benchmarks/run.py --with-doit --with-dask   # also installs and runs those
    python benchmarks/run.py --smoke          # seconds; checks that it works (CI)

Every figure is the median of --repeat runs of a fresh process; the machine is shared and noisy,
so compare ratios taken in the same run, not figures across runs.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

ROOT = Path(__file__).resolve().parent.parent
EXTRA_VENV = ROOT / "benchmarks" / ".venv-baselines"
MARK_START, MARK_END = "<!-- benchmark:start -->", "<!-- benchmark:end -->"

FLOOR_1THREAD = """
import importlib, sys, yaml
from graphlib import TopologicalSorter
sys.path.insert(0, ".")
spec = yaml.load(open("stages.yaml"), Loader=yaml.CSafeLoader)
jobs = importlib.import_module("jobs")
for name in TopologicalSorter({k: v or () for k, v in spec.items()}).static_order():
    getattr(jobs, name)()
"""

FLOOR_POOL = """
import importlib, sys, yaml
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from graphlib import TopologicalSorter
sys.path.insert(0, ".")
spec = yaml.load(open("stages.yaml"), Loader=yaml.CSafeLoader)
jobs = importlib.import_module("jobs")
sorter = TopologicalSorter({k: v or () for k, v in spec.items()})
sorter.prepare()
with ThreadPoolExecutor(2) as pool:
    pending = {}
    while sorter.is_active():
        for name in sorter.get_ready():
            pending[pool.submit(getattr(jobs, name))] = name
        done, _ = wait(pending, return_when=FIRST_COMPLETED)
        for future in done:
            future.result()
            sorter.done(pending.pop(future))
"""

DASK = """
import importlib, sys, yaml
import dask.threaded
sys.path.insert(0, ".")
spec = yaml.load(open("stages.yaml"), Loader=yaml.CSafeLoader)
jobs = importlib.import_module("jobs")
def call(fn, *deps):
    return fn()
graph = {name: (call, getattr(jobs, name), *(deps or ())) for name, deps in spec.items()}
dask.threaded.get(graph, list(graph), num_workers=2)
"""

DODO = """
import sys, yaml
sys.path.insert(0, ".")
import jobs
DOIT_CONFIG = {"verbosity": 0, "dep_file": ".doit.db", "backend": "json"}
spec = yaml.load(open("stages.yaml"), Loader=yaml.CSafeLoader)
def task_stage():
    for name, deps in spec.items():
        yield {"name": name, "actions": [getattr(jobs, name)], "task_dep": ["stage:" + d for d in deps or ()],
               "uptodate": [False]}
"""


@dataclass
class Measure:
    wall: float  # seconds
    rss_kb: int  # peak resident memory of the process


# Linux counts into a child's peak memory the parent's peak at fork and exec, so measuring a
# command forked from this (growing) process would report this process's memory. GNU time forks
# the command from its own small process and reports the command's own peak.
GNU_TIME = "/usr/bin/time" if os.path.exists("/usr/bin/time") else None


def run_once(cmd: Sequence[str], cwd: Path, out: Path, env: Optional[Dict[str, str]] = None) -> Measure:
    """Wall time and peak resident memory of one process."""
    rss_file = out.with_suffix(".rss")
    full = [GNU_TIME, "-f", "%M", "-o", str(rss_file), *cmd] if GNU_TIME else list(cmd)
    with out.open("w") as sink:
        start = time.perf_counter()
        proc = subprocess.Popen(full, cwd=cwd, stdout=sink, stderr=subprocess.STDOUT, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status) if hasattr(os, "waitstatus_to_exitcode") else status >> 8
    if code != 0:
        raise SystemExit(f"benchmark: {' '.join(cmd)} failed with {code}; see {out}")
    if GNU_TIME:
        rss = int(rss_file.read_text().split()[-1])
    else:  # an upper bound: includes this process's own peak (see above)
        rss = usage.ru_maxrss if sys.platform != "darwin" else usage.ru_maxrss // 1024
    return Measure(wall, rss)


def median(measures: List[Measure]) -> Measure:
    return Measure(statistics.median(m.wall for m in measures), int(statistics.median(m.rss_kb for m in measures)))


def make_pipeline(folder: Path, shape: str, n: int, seed: int = 1) -> None:
    """chain: each stage needs the previous; wide: none needs anything; layered: layers of 100,
    each stage needing two random stages of the layer before; mesh: layers of 50, each stage
    needing 1 to 3 earlier stages, one of them in the layer before."""
    rng = random.Random(seed)
    names = [f"s{i}" for i in range(n)]
    lines = []
    for i, name in enumerate(names):
        if shape == "chain":
            deps = [names[i - 1]] if i else []
        elif shape == "wide":
            deps = []
        elif shape == "mesh":
            layer = i // 50
            deps = []
            if layer:
                earlier = rng.sample(range(layer * 50), rng.randrange(0, 3))
                deps = sorted({names[rng.randrange((layer - 1) * 50, layer * 50)], *(names[j] for j in earlier)})
        else:
            layer = i // 100
            deps = sorted({names[j] for j in rng.sample(range((layer - 1) * 100, layer * 100), 2)}) if layer else []
        lines.append(f"{name}: [{', '.join(deps)}]")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "stages.yaml").write_text("\n".join(lines) + "\n")
    (folder / "jobs.py").write_text("".join(f"def {name}(): pass\n" for name in names))


def clean(folder: Path) -> None:
    for pattern in ("state.yml", ".state.yml.*", ".doit.db*", ".dagrun"):
        for path in folder.glob(pattern):
            shutil.rmtree(path) if path.is_dir() else path.unlink()


def runners(python: str, extra_python: Optional[str], with_doit: bool, with_dask: bool) -> Dict[str, List[str]]:
    found = {
        "floor: 1 thread": [python, "-c", FLOOR_1THREAD],
        "floor: 2-thread pool": [python, "-c", FLOOR_POOL],
        "dagrun": [python, "-m", "dagrun", "run", "--jobs", "jobs", "--progress", "plain"],
    }
    if with_dask and extra_python:
        found["dask threaded, 2 threads"] = [extra_python, "-c", DASK]
    if with_doit and extra_python:
        found["doit, 2 threads"] = [extra_python, "-m", "doit", "-f", "dodo.py", "-n", "2", "-P", "thread"]
    return found


def install_baselines(with_doit: bool, with_dask: bool) -> Optional[str]:
    """doit and Dask go into a venv of their own, so they never touch dagrun's."""
    if not (with_doit or with_dask):
        return None
    python = EXTRA_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(EXTRA_VENV)], check=True)
    wanted = ["pyyaml"] + (["doit"] if with_doit else []) + (["dask"] if with_dask else [])
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", *wanted], check=True)
    return str(python)


def bench_sizes(args: argparse.Namespace, extra_python: Optional[str], work: Path) -> List[str]:
    rows = [
        "| shape | stages | runner | wall (median) | µs / stage | peak memory | wall vs 2-thread pool "
        "| memory vs pool |",
        "|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for shape in args.shapes:
        for n in args.sizes:
            if shape not in ("mesh", "layered") and n > max(args.sizes[:2] or args.sizes):
                continue  # chain and wide only at the smaller sizes: mesh and layered are the headline
            folder = work / f"{shape}-{n}"
            make_pipeline(folder, shape, n)
            (folder / "dodo.py").write_text(DODO)
            results: Dict[str, Measure] = {}
            cmds = {
                label: cmd
                for label, cmd in runners(sys.executable, extra_python, args.with_doit, args.with_dask).items()
                # doit needs minutes at 100,000, and Dask over 12 GB of memory
                if not (("doit" in label or "dask" in label) and n > 20_000)
            }
            measures: Dict[str, List[Measure]] = {label: [] for label in cmds}
            for _ in range(args.repeat):  # each runner once per round: a busy spell falls on all of them
                for label, cmd in cmds.items():
                    clean(folder)
                    # Each run of dagrun is a first run: its pipeline cache starts empty.
                    env = {**os.environ, "DAGRUN_CACHE_DIR": tempfile.mkdtemp(dir=work)}
                    measures[label].append(run_once(cmd, folder, folder / "out.txt", env=env))
            for label in cmds:
                m = results[label] = median(measures[label])
                print(f"  {shape:8} {n:>7} {label:28} {m.wall:8.3f} s {m.rss_kb / 1024:7.1f} MB", flush=True)
            # The common re-run: everything already succeeded, nothing to do, the pipeline cached.
            clean(folder)
            dagrun_cmd = runners(sys.executable, None, False, False)["dagrun"]
            warm = {**os.environ, "DAGRUN_CACHE_DIR": tempfile.mkdtemp(dir=work)}
            run_once(dagrun_cmd, folder, folder / "out.txt", env=warm)
            results["dagrun, re-run with nothing to do"] = median(
                [run_once(dagrun_cmd, folder, folder / "out.txt", env=warm) for _ in range(args.repeat)]
            )
            pool = results["floor: 2-thread pool"]
            for label, m in results.items():
                rows.append(
                    f"| {shape} | {n:,} | {label} | {m.wall:.3f} s | {m.wall / n * 1e6:,.0f} | "
                    f"{m.rss_kb / 1024:.1f} MB | {m.wall / pool.wall:.2f}x | {m.rss_kb / pool.rss_kb:.2f}x |"
                )
    return rows


def bench_live_view(args: argparse.Namespace, work: Path) -> List[str]:
    """The live view's cost: the same run drawn in a pseudo-terminal, against plain output."""
    import pty

    n = args.live_size
    folder = work / f"live-{n}"
    make_pipeline(folder, "layered", n)

    def in_pty() -> Measure:
        master, slave = pty.openpty()
        env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "120", "LINES": "40", "DAGRUN_NO_CACHE": "1"}
        start = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "dagrun", "run", "--jobs", "jobs", "--progress", "live"],
            cwd=folder,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
        )
        os.close(slave)
        while True:
            try:
                if not os.read(master, 1 << 16):
                    break
            except OSError:
                break
        usage = os.wait4(proc.pid, 0)[2]
        os.close(master)
        return Measure(time.perf_counter() - start, usage.ru_maxrss)

    # Plain output again, in a process that has also imported the live view (and so rich): what
    # drawing costs beyond the import, which is the same 30 ms or so whatever the pipeline's size.
    with_rich = "import dagrun.ui.live, runpy; runpy.run_module('dagrun', run_name='__main__', alter_sys=True)"
    plain: List[Measure] = []
    imported: List[Measure] = []
    live: List[Measure] = []
    for _ in range(args.repeat):
        for runs, cmd in ((plain, ["-m", "dagrun"]), (imported, ["-c", with_rich])):
            clean(folder)
            runs.append(
                run_once(
                    [sys.executable, *cmd, "run", "--jobs", "jobs", "--progress", "plain"],
                    folder,
                    folder / "out.txt",
                    env={**os.environ, "DAGRUN_NO_CACHE": "1"},
                )
            )
        clean(folder)
        live.append(in_pty())
    p, imp, lv = median(plain), median(imported), median(live)
    print(f"  live view {n}: plain {p.wall:.3f} s, plain with rich imported {imp.wall:.3f} s, live {lv.wall:.3f} s")
    return [
        "| stages | plain output to a file | the same, rich imported | live view in a terminal | live / plain "
        "| live / plain with rich imported |",
        "|---:|---:|---:|---:|---:|---:|",
        f"| {n:,} | {p.wall:.3f} s | {imp.wall:.3f} s | {lv.wall:.3f} s | {lv.wall / p.wall:.2f}x "
        f"| {lv.wall / imp.wall:.2f}x |",
    ]


def sleep_pipeline(seed: int = 3) -> Dict[str, Tuple[float, List[str]]]:
    """200 sleeping stages: 125 short ones (2-10 ms) first in the file, then three chains of 25
    (20-30 ms each) that some short ones feed into. With 4 workers the chains are the critical
    path and the total work about fills the rest, so starting the short ones first costs."""
    rng = random.Random(seed)
    stages: Dict[str, Tuple[float, List[str]]] = {}
    shorts = [f"short{i}" for i in range(125)]
    for i, name in enumerate(shorts):
        deps = rng.sample(shorts[:i], min(i, rng.choice([0, 0, 1, 2])))
        stages[name] = (rng.uniform(0.002, 0.010), sorted(deps))
    for c in range(3):
        prev: List[str] = []
        for k in range(25):
            name = f"chain{c}_{k}"
            feed = [rng.choice(shorts)] if rng.random() < 0.1 else []
            stages[name] = (rng.uniform(0.020, 0.030), sorted(prev + feed))
            prev = [name]
    return stages


def simulate(stages: Dict[str, Tuple[float, List[str]]], workers: int, policy: str) -> float:
    """The makespan of list scheduling under a policy, with exact durations and no overhead."""
    import heapq

    names = list(stages)
    index = {n: i for i, n in enumerate(names)}
    dependents: Dict[str, List[str]] = {n: [] for n in names}
    for n, (_, deps) in stages.items():
        for d in deps:
            dependents[d].append(n)
    level: Dict[str, int] = {}
    for n in names:  # file order is topological here
        level[n] = 1 + max((level[d] for d in stages[n][1]), default=-1)
    remaining: Dict[str, float] = {}
    for n in reversed(names):
        remaining[n] = stages[n][0] + max((remaining[d] for d in dependents[n]), default=0.0)
    waiting = {n: len(stages[n][1]) for n in names}
    ready: List[Tuple[Tuple[float, float], int, str]] = []  # ((level or 0, rank), file index, name)
    clock, seq = 0.0, 0

    def push(n: str) -> None:
        nonlocal seq
        seq += 1
        rank = {"fifo": seq, "level": seq, "critical path": -remaining[n]}[policy]
        heapq.heappush(ready, ((level[n] if policy == "level" else 0, rank), index[n], n))

    for n in names:
        if not waiting[n]:
            push(n)
    running: List[Tuple[float, str]] = []
    current_level = 0
    while ready or running:
        while ready and len(running) < workers:
            if policy == "level" and ready[0][0][0] > current_level:
                if running:
                    break  # the barrier: the next level waits for this one
                current_level = int(ready[0][0][0])
            _, _, n = heapq.heappop(ready)
            heapq.heappush(running, (clock + stages[n][0], n))
        clock, n = heapq.heappop(running)
        for d in dependents[n]:
            waiting[d] -= 1
            if not waiting[d]:
                push(d)
    return clock


def bench_critical_path(args: argparse.Namespace, work: Path) -> List[str]:
    stages = sleep_pipeline()
    workers = 4
    folder = work / "critical-path"
    folder.mkdir()
    (folder / "stages.yaml").write_text("".join(f"{n}: [{', '.join(d)}]\n" for n, (_, d) in stages.items()))
    body = [
        "import os, time",
        "LOG = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'times.log')",
        "def _sleep(name, seconds):",
        "    start = time.time()",
        "    time.sleep(seconds)",
        "    with open(LOG, 'a') as f:",
        "        f.write(f'{start} {time.time()}\\n')",
    ]
    body += [f"def {n}(): _sleep({n!r}, {s!r})" for n, (s, _) in stages.items()]
    (folder / "jobs.py").write_text("\n".join(body) + "\n")
    total = sum(s for s, _ in stages.values())
    critical = simulate(stages, len(stages), "critical path")  # unlimited workers: the longest chain
    bound = max(critical, total / workers)
    rows = [
        f"{len(stages)} stages, {workers} workers; total work {total:.3f} s, longest chain {critical:.3f} s, "
        f"so no order can finish before {bound:.3f} s.",
        "",
        "| order | makespan | makespan / lower bound |",
        "|---|---:|---:|",
    ]
    for policy in ("level", "fifo", "critical path"):
        span = simulate(stages, workers, policy)
        label = {"level": "level by level (simulated)", "fifo": "FIFO (simulated)"}.get(
            policy, "critical path first (simulated)"
        )
        rows.append(f"| {label} | {span:.3f} s | {span / bound:.2f} |")

    def real_run() -> float:
        (folder / "times.log").unlink(missing_ok=True)
        run_once(
            [sys.executable, "-m", "dagrun", "run", "--jobs", "jobs", "-j", str(workers), "--progress", "quiet"],
            folder,
            folder / "out.txt",
        )
        times = [tuple(map(float, line.split())) for line in (folder / "times.log").read_text().splitlines()]
        return max(e for _, e in times) - min(s for s, _ in times)

    first, informed = [], []
    for _ in range(args.repeat):
        clean(folder)  # also forgets the durations: a first run
        first.append(real_run())
        for path in folder.glob("state.yml"):
            path.unlink()  # a reset: the durations stay
        informed.append(real_run())
    for label, spans in (
        ("dagrun, first run (chain length by count)", first),
        ("dagrun, with the durations of the run before", informed),
    ):
        span = statistics.median(spans)
        rows.append(f"| {label} | {span:.3f} s | {span / bound:.2f} |")
        print(f"  {label}: {span:.3f} s = {span / bound:.2f} x the lower bound", flush=True)
    return rows


CPU_STAGES = {  # two independent halves: with 2 workers the ideal is half the sequential time
    "Prep1": [],
    "Prep2": [],
    "Fit1": ["Prep1"],
    "Fit2": ["Prep2"],
    "Fit3": ["Prep1"],
    "Fit4": ["Prep2"],
    "Report1": ["Fit1", "Fit2"],
    "Report2": ["Fit3", "Fit4"],
}


def spin(n: int) -> int:
    """Pure-Python arithmetic: holds the GIL the whole time, as CPU-bound Python stages do."""
    total = 0
    for i in range(n):
        total = (total + i * i) % 1_000_003
    return total


def calibrate(seconds: float) -> int:
    """Iterations of `spin` that take about `seconds` here, measured once so every runner does the
    same work."""
    n = 2_000_000
    best = float("inf")
    for _ in range(3):  # the best of three: the machine is shared, and a slow sample would inflate n
        start = time.perf_counter()
        spin(n)
        best = min(best, time.perf_counter() - start)
    return max(1, int(n * seconds / best))


def bench_executors(args: argparse.Namespace, work: Path) -> List[str]:
    seconds = 0.05 if args.smoke else 0.25 if args.quick else 1.0
    workers = 2
    folder = work / "cpu"
    folder.mkdir()
    (folder / "stages.yaml").write_text("".join(f"{n}: [{', '.join(d)}]\n" for n, d in CPU_STAGES.items()))
    n = calibrate(seconds)
    body = inspect.getsource(spin) + "".join(f"def {name}(): spin({n})\n" for name in CPU_STAGES)
    (folder / "jobs.py").write_text(body)
    has_dask = subprocess.run([sys.executable, "-c", "import distributed"], capture_output=True).returncode == 0
    dagrun = [sys.executable, "-m", "dagrun", "run", "--jobs", "jobs", "-j", str(workers), "--progress", "quiet"]
    cases: List[Tuple[str, Optional[List[str]]]] = [
        ("one thread, plain Python (the baseline)", [sys.executable, "-c", FLOOR_1THREAD]),
        ("dagrun --executor thread", [*dagrun, "--executor", "thread"]),
        ("dagrun --executor process", [*dagrun, "--executor", "process"]),
        ("dagrun --executor dask (local cluster)", [*dagrun, "--executor", "dask"] if has_dask else None),
    ]
    rows = [
        f"{len(CPU_STAGES)} stages of pure-Python arithmetic, calibrated to about {seconds:g} s each, in two "
        f"independent halves; {workers} workers. Whole process, start-up included.",
        "",
        "| runner | wall | speed-up over one thread |",
        "|---|---:|---:|",
    ]
    base = 0.0
    for label, cmd in cases:
        if cmd is None:
            rows.append(f"| {label} | not measured: Dask is not installed (`pip install 'dagrun[dask]'`) | |")
            continue
        walls = []
        for _ in range(args.repeat):
            clean(folder)
            walls.append(run_once(cmd, folder, folder / "out.txt").wall)
        wall = statistics.median(walls)
        base = base or wall
        rows.append(f"| {label} | {wall:.2f} s | {base / wall:.2f}x |")
        print(f"  {label:42} {wall:6.2f} s  {base / wall:.2f}x", flush=True)
    return rows


POOL_LOOP = """
import sys, yaml
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from graphlib import TopologicalSorter
sys.path.insert(0, ".")
import jobs

def call(name):
    return getattr(jobs, name)()

if __name__ == "__main__":
    spec = yaml.load(open("stages.yaml"), Loader=yaml.CSafeLoader)
    sorter = TopologicalSorter({k: v or () for k, v in spec.items()})
    sorter.prepare()
    with ProcessPoolExecutor(2) as pool:
        pending = {}
        while sorter.is_active():
            for name in sorter.get_ready():
                pending[pool.submit(call, name)] = name
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                future.result()
                sorter.done(pending.pop(future))
"""

DASK_SUBMIT_LOOP = """
import logging, sys, yaml
from distributed import Client, LocalCluster, wait
sys.path.insert(0, ".")
import jobs

def call(name, *deps):
    return getattr(jobs, name)()

if __name__ == "__main__":
    spec = yaml.load(open("stages.yaml"), Loader=yaml.CSafeLoader)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=logging.CRITICAL) as cluster, Client(cluster) as client:
        futures = {}
        for name, deps in spec.items():  # the file lists each stage after what it needs
            futures[name] = client.submit(call, name, *(futures[d] for d in deps or ()), pure=False)
        wait(list(futures.values()))
"""


def bench_executor_overhead(args: argparse.Namespace, work: Path) -> List[str]:
    """What an executor costs over the engine it drives: dagrun with --executor process or dask
    against a plain loop over the same engine and graph (no-op stages, 2 workers)."""
    n = 100 if args.smoke else 1_000
    folder = work / f"engines-{n}"
    make_pipeline(folder, "mesh", n)
    has_dask = subprocess.run([sys.executable, "-c", "import distributed"], capture_output=True).returncode == 0
    dagrun = [sys.executable, "-m", "dagrun", "run", "--jobs", "jobs", "-j", "2", "--progress", "quiet"]
    pairs: List[Tuple[str, List[str], str, Optional[List[str]], Optional[List[str]]]] = [
        ("process", [*dagrun, "-x", "process"], "ProcessPoolExecutor(2) loop", [sys.executable, "-c", POOL_LOOP], None),
        (
            "dask",
            [*dagrun, "-x", "dask"],
            "client.submit loop, local cluster of 2",
            [sys.executable, "-c", DASK_SUBMIT_LOOP] if has_dask else None,
            None,
        ),
    ]
    rows = [
        f"{n:,} no-op stages (mesh), 2 workers, whole processes with their start-up, medians of {args.repeat}.",
        "",
        "| executor | dagrun | the engine alone | ratio |",
        "|---|---:|---:|---:|",
    ]
    for kind, ours, label, plain, _ in pairs:
        if plain is None:
            rows.append(f"| {kind} | not measured: Dask is not installed | {label} | |")
            continue
        walls: Dict[str, List[float]] = {"ours": [], "plain": []}
        for _ in range(args.repeat):
            for key, cmd in (("ours", ours), ("plain", plain)):
                clean(folder)
                walls[key].append(run_once(cmd, folder, folder / "out.txt").wall)
        a, b = statistics.median(walls["ours"]), statistics.median(walls["plain"])
        rows.append(f"| {kind} | {a:.2f} s | {b:.2f} s ({label}) | {a / b:.2f}x |")
        print(f"  {kind:8} dagrun {a:6.2f} s  {label} {b:6.2f} s  {a / b:.2f}x", flush=True)
    return rows


POOL_DESIGNS = """
import gc, importlib, json, os, queue, statistics, sys, threading, time, yaml
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from graphlib import TopologicalSorter
sys.path.insert(0, ".")
spec = {k: v or () for k, v in yaml.load(open("stages.yaml"), Loader=yaml.CSafeLoader).items()}
jobs = importlib.import_module("jobs")
WORKERS = 2

def sorter():
    s = TopologicalSorter(spec)
    s.prepare()
    return s

def every_ready_queued():  # the floor: the pool holds every ready stage
    s, pending = sorter(), {}
    with ThreadPoolExecutor(WORKERS) as pool:
        while s.is_active():
            for name in s.get_ready():
                pending[pool.submit(getattr(jobs, name))] = name
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for f in done:
                s.done(pending.pop(f))

def main_thread_decides():  # at most WORKERS in flight; the main thread picks the next
    s, done_q, ready, running = sorter(), queue.SimpleQueue(), [], 0
    def call(name):
        getattr(jobs, name)()
        done_q.put(name)
    with ThreadPoolExecutor(WORKERS) as pool:
        while s.is_active():
            ready.extend(s.get_ready())
            while ready and running < WORKERS:
                pool.submit(call, ready.pop())
                running += 1
            s.done(done_q.get())
            running -= 1

def callbacks_decide():  # at most WORKERS in flight; the thread that saw a stage end picks the next
    s, lock, finished, ready, running = sorter(), threading.Lock(), threading.Event(), [], [0]
    pool = ThreadPoolExecutor(WORKERS)
    def take():
        ready.extend(s.get_ready())
        batch = []
        while ready and running[0] < WORKERS:
            batch.append(ready.pop())
            running[0] += 1
        return batch
    def submit(batch):
        for name in batch:
            pool.submit(getattr(jobs, name)).add_done_callback(lambda f, name=name: on_done(name))
    def on_done(name):
        with lock:
            running[0] -= 1
            s.done(name)
            batch = take()
            if not s.is_active():
                finished.set()
        submit(batch)
    with lock:
        batch = take()
    submit(batch)
    finished.wait()
    pool.shutdown()

def worker_loop():  # at most WORKERS in flight, no futures: a thread takes its next stage itself
    s, cond, ready, active = sorter(), threading.Condition(), [], [True]
    def worker():
        previous = None
        while True:
            with cond:
                if previous is not None:
                    s.done(previous)
                    ready.extend(s.get_ready())
                    if not s.is_active():
                        active[0] = False
                        cond.notify_all()
                        return
                    if len(ready) > 1:
                        cond.notify()
                while not ready:
                    if not active[0]:
                        return
                    cond.wait()
                previous = ready.pop()
            getattr(jobs, previous)()
    ready.extend(s.get_ready())
    threads = [threading.Thread(target=worker) for _ in range(WORKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

from dagrun import load_pipeline, run
from dagrun.api import RunOptions
pipeline, functions = load_pipeline("stages.yaml"), {name: getattr(jobs, name) for name in spec}

def dagrun_run():  # dagrun.api.run: state, journal, logs, history; no reporter, the file already read
    for name in os.listdir("."):
        if name == "state.yml" or name.startswith(".state.yml."):
            os.remove(name)
    run(pipeline, functions, RunOptions(workers=WORKERS))

designs = [every_ready_queued, main_thread_decides, callbacks_decide, worker_loop, dagrun_run]
gc.freeze()  # as the command does before a run
times = {f.__name__: [] for f in designs}
for _ in range(int(sys.argv[1])):
    for f in designs:
        start = time.perf_counter()
        f()
        times[f.__name__].append(time.perf_counter() - start)
print(json.dumps({name: statistics.median(t) for name, t in times.items()}))
"""

POOL_DESIGN_WORDS = {
    "every_ready_queued": "ThreadPoolExecutor, every ready stage queued at once (the floor's loop)",
    "main_thread_decides": "ThreadPoolExecutor, at most 2 in flight, the main thread picks the next",
    "callbacks_decide": "ThreadPoolExecutor, at most 2 in flight, a done-callback picks the next (dagrun's shape)",
    "worker_loop": "two plain threads, at most 2 in flight, each takes its next stage itself (no futures)",
    "dagrun_run": "`dagrun.api.run` with the thread executor (state, journal, logs, history)",
}


def bench_pool_designs(args: argparse.Namespace, work: Path) -> List[str]:
    """Why a run costs what it does: the same no-op mesh scheduled in one process by designs that
    differ only in who picks the next stage and how many wait in the pool (no start-up, no YAML)."""
    n = 1_000 if args.smoke else 10_000
    folder = work / f"designs-{n}"
    make_pipeline(folder, "mesh", n)
    out = subprocess.run(
        [sys.executable, "-c", POOL_DESIGNS, str(args.repeat)], cwd=folder, capture_output=True, text=True
    )
    if out.returncode != 0:
        raise SystemExit(f"benchmark: the pool designs failed:\n{out.stderr}")
    medians = json.loads(out.stdout)
    floor = medians["every_ready_queued"]
    rows = [
        f"{n:,} no-op stages (mesh), 2 threads, in one process, medians of {args.repeat} rounds.",
        "",
        "| design | time | vs the floor's loop |",
        "|---|---:|---:|",
    ]
    for name, wall in medians.items():
        rows.append(f"| {POOL_DESIGN_WORDS[name]} | {wall:.3f} s | {wall / floor:.2f}x |")
        print(f"  {name:22} {wall:.3f} s {wall / floor:.2f}x", flush=True)
    return rows


def _drop_page_cache() -> bool:
    """Linux, as root: the next read comes from the disk. False where that is not allowed."""
    try:
        os.sync()
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        return True
    except OSError:
        return False


def bench_freshness(args: argparse.Namespace, work: Path) -> List[str]:
    """What declared inputs and outputs cost: `dagrun plan` on a pipeline whose every stage has one
    input and one output, all unchanged (stat only), against the same plan without them; and
    hashing a large input against only reading it."""
    n = 200 if args.smoke else 10_000
    folders = {"plain": work / f"fresh-plain-{n}", "declared": work / f"fresh-declared-{n}"}
    for kind, folder in folders.items():
        make_pipeline(folder, "mesh", n)
        if kind == "declared":
            (folder / "in").mkdir()
            (folder / "out").mkdir()
            lines = []
            for line in (folder / "stages.yaml").read_text().splitlines():
                name, needs = line.split(": ", 1)
                (folder / "in" / f"{name}.txt").write_text(name)
                lines.append(f"{name}: {{needs: {needs}, inputs: [in/{name}.txt], outputs: [out/{name}.txt]}}")
            (folder / "stages.yaml").write_text("\n".join(lines) + "\n")
            names = [line.split(":")[0] for line in lines]
            (folder / "jobs.py").write_text(
                "def _out(name):\n    open(f'out/{name}.txt', 'w').write(name)\n"
                + "".join(f"def {name}(): _out('{name}')\n" for name in names)
            )
        done = run_once(runners(sys.executable, None, False, False)["dagrun"], folder, folder / "out.txt")
        assert done.wall > 0
    walls: Dict[str, List[float]] = {kind: [] for kind in folders}
    for _ in range(args.repeat):
        for kind, folder in folders.items():
            walls[kind].append(run_once([sys.executable, "-m", "dagrun", "plan"], folder, folder / "plan.txt").wall)
    plain, declared = statistics.median(walls["plain"]), statistics.median(walls["declared"])
    print(f"  plan, {n} stages: plain {plain:.3f} s, one input and one output each {declared:.3f} s", flush=True)
    size = (16 if args.smoke else 256 if args.quick else 1024) * 2**20
    big = work / "big.bin"
    with big.open("wb") as f:
        for _ in range(size // 2**20):
            f.write(os.urandom(2**20))
    hash_code = "import sys; from dagrun.store.fresh import digest_file; digest_file(sys.argv[1])"
    read_code = (
        "import sys\nb = bytearray(1 << 20)\nwith open(sys.argv[1], 'rb', buffering=0) as f:\n"
        "    while f.readinto(b): pass\n"
    )
    reads: Dict[str, List[float]] = {"hash": [], "read": []}
    cold = True
    for _ in range(args.repeat):
        for key, code in (("read", read_code), ("hash", hash_code)):
            cold = cold and _drop_page_cache()  # from the disk, as a new input is read
            reads[key].append(run_once([sys.executable, "-c", code, str(big)], work, work / "hash.txt").wall)
    read, hashed = statistics.median(reads["read"]), statistics.median(reads["hash"])
    mb = size / 2**20
    print(f"  {mb:.0f} MiB: read {mb / read:,.0f} MiB/s, hashed {mb / hashed:,.0f} MiB/s", flush=True)
    big.unlink()
    where = "from the disk (page cache dropped before each)" if cold else "in the page cache (it could not be dropped)"
    return [
        f"`dagrun plan` on {n:,} stages (mesh) that all succeeded, medians of {args.repeat}; then one "
        f"{mb:,.0f} MiB input {where}, hashed as dagrun does and only read, whole processes.",
        "",
        "| case | wall (median) | against the baseline |",
        "|---|---:|---:|",
        f"| plan, no inputs or outputs (the baseline) | {plain:.3f} s | |",
        f"| plan, one input and one output per stage, all unchanged | {declared:.3f} s | +{declared - plain:.3f} s |",
        f"| read {mb:,.0f} MiB (the baseline) | {read:.3f} s ({mb / read:,.0f} MiB/s) | |",
        f"| hash {mb:,.0f} MiB (SHA-1, 1 MiB reads) | {hashed:.3f} s ({mb / hashed:,.0f} MiB/s) | "
        f"{hashed / read:.2f}x |",
    ]


OUTPUT_JOB = """\
import sys

def Bar():
    # A progress bar in small writes: one carriage return and 16 characters each.
    write = sys.stdout.write
    for i in range({writes}):
        write(f"\\r{{i:>14}} ")
    write("\\n")
"""


def bench_output(args: argparse.Namespace, work: Path) -> List[str]:
    """Stage output must cost time linear in its size on every executor: the same stage writing 4x
    as much takes about 4x as long (quadratic would be 16x), and stays near a plain Python process
    writing the same to a file."""
    sizes = [20_000, 80_000] if args.smoke else [250_000, 1_000_000]
    folder = work / "output"
    folder.mkdir()
    (folder / "stages.yaml").write_text("Bar: []\n")
    dagrun = [sys.executable, "-m", "dagrun", "run", "--jobs", "jobs", "--progress", "plain"]
    cases = [
        ("plain Python, to a file (the baseline)", [sys.executable, "-c", "import jobs; jobs.Bar()"]),
        ("dagrun --executor thread, to the stage's log", [*dagrun, "-x", "thread"]),
        ("dagrun --executor process, to the stage's log", [*dagrun, "-x", "process"]),
        ("dagrun --executor thread --show-output", [*dagrun, "-x", "thread", "--show-output"]),
        ("dagrun --executor process --show-output", [*dagrun, "-x", "process", "--show-output"]),
    ]
    small, large = sizes
    rows = [
        f"One stage writes a carriage-return progress bar in 16-byte writes: {small * 16 / 1e6:g} MB, then "
        f"{large * 16 / 1e6:g} MB ({large // small}x as much). Whole process, output to a file; linear "
        f"output makes the last column at most about {large // small} (start-up is paid once); quadratic would "
        f"make it {(large // small) ** 2}.",
        "",
        f"| runner | {small * 16 / 1e6:g} MB | {large * 16 / 1e6:g} MB | ratio |",
        "|---|---:|---:|---:|",
    ]
    for label, cmd in cases:
        walls = []
        for writes in sizes:
            (folder / "jobs.py").write_text(OUTPUT_JOB.format(writes=writes))
            samples = []
            for _ in range(args.repeat):
                clean(folder)
                samples.append(run_once(cmd, folder, folder / "out.txt").wall)
            walls.append(statistics.median(samples))
        rows.append(f"| {label} | {walls[0]:.2f} s | {walls[1]:.2f} s | {walls[1] / walls[0]:.1f} |")
        print(f"  {label:48} {walls[0]:6.2f} s {walls[1]:6.2f} s  {walls[1] / walls[0]:.1f}", flush=True)
    return rows


def bench_startup(args: argparse.Namespace) -> List[str]:
    cases: List[Tuple[str, List[str]]] = [
        ("python -c pass", [sys.executable, "-c", "pass"]),
        ("python -c 'import click, yaml'", [sys.executable, "-c", "import click, yaml"]),
        ("dagrun --help", [sys.executable, "-m", "dagrun", "--help"]),
        (
            "dagrun plan stages.example.yaml",
            [sys.executable, "-m", "dagrun", "plan", "stages.example.yaml", "--state", os.devnull + ".none"],
        ),
    ]
    rows = ["| command | wall (median) | vs import click, yaml |", "|---|---:|---:|"]
    runs: Dict[str, List[Measure]] = {label: [] for label, _ in cases}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(max(args.repeat, 5)):  # the commands in turn, as in bench_sizes
            for label, cmd in cases:
                runs[label].append(run_once(cmd, ROOT, Path(tmp) / "out.txt"))
    results = {label: median(measures) for label, measures in runs.items()}
    base = results["python -c 'import click, yaml'"].wall
    for label, m in results.items():
        rows.append(f"| `{label}` | {m.wall * 1000:.0f} ms | {m.wall / base:.2f}x |")
        print(f"  {label:34} {m.wall * 1000:6.0f} ms", flush=True)
    return rows


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        model = re.search(r"model name\s*:\s*(.*)", Path("/proc/cpuinfo").read_text())
        cpu = model.group(1) if model else cpu
    except OSError:
        pass
    try:
        mem = int(re.search(r"MemTotal:\s*(\d+)", Path("/proc/meminfo").read_text()).group(1)) / 2**20  # type: ignore[union-attr]
        memory = f"{mem:.0f} GiB"
    except (OSError, AttributeError):
        memory = "unknown memory"
    return (
        f"{platform.system()} {platform.release()}, {cpu}, {os.cpu_count()} CPUs, {memory}; "
        f"Python {platform.python_version()}"
    )


def write_report(path: Path, sections: List[Tuple[str, List[str]]], args: argparse.Namespace) -> None:
    command = "python benchmarks/run.py " + " ".join(args.argv)
    body = [
        MARK_START,
        "",
        f"Measured {time.strftime('%Y-%m-%d')} on {machine()}, with `{command.strip()}`; "
        f"each figure is the median of {args.repeat} runs.",
        "",
    ]
    for title, rows in sections:
        body += [f"### {title}", "", *rows, ""]
    body.append(MARK_END)
    text = path.read_text() if path.exists() else f"# Performance\n\n{MARK_START}\n{MARK_END}\n"
    if MARK_START in text and MARK_END in text:
        before, rest = text.split(MARK_START, 1)
        after = rest.split(MARK_END, 1)[1]
        text = before + "\n".join(body) + after
    else:
        text += "\n" + "\n".join(body) + "\n"
    path.write_text(text)
    print(f"wrote {path}")


def main(argv: Optional[List[str]] = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    # Python's bytecode cache on, as for anyone who installed with pip: with PYTHONDONTWRITEBYTECODE
    # set (some CI images do), every process would compile dagrun, the baselines and jobs.py anew,
    # and start-up would measure the compiler. The first run of each command writes the cache.
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="sizes up to 10,000, 3 repeats: under two minutes")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, 1 repeat: checks that it works")
    parser.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")])
    parser.add_argument("--shapes", type=lambda s: s.split(","), default=["mesh", "layered", "chain", "wide"])
    parser.add_argument("--repeat", type=int)
    parser.add_argument(
        "--with-doit", action="store_true", help="install doit in benchmarks/.venv-baselines and run it"
    )
    parser.add_argument(
        "--with-dask", action="store_true", help="install Dask in benchmarks/.venv-baselines and run it"
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=ROOT / "docs" / "performance.md",
        help="the markdown file whose benchmark section is replaced (default: docs/performance.md)",
    )
    args = parser.parse_args(argv)
    args.argv = argv
    if args.smoke:
        args.sizes, args.repeat, args.live_size = args.sizes or [100], args.repeat or 1, 100
    elif args.quick:
        args.sizes, args.repeat, args.live_size = args.sizes or [100, 1_000, 10_000], args.repeat or 3, 10_000
    else:
        args.sizes, args.repeat, args.live_size = args.sizes or [100, 1_000, 10_000, 100_000], args.repeat or 5, 10_000
    extra = install_baselines(args.with_doit, args.with_dask)
    with tempfile.TemporaryDirectory(prefix="dagrun-bench-") as tmp:
        work = Path(tmp)
        print("pipelines of no-op stages:", flush=True)
        sizes = bench_sizes(args, extra, work)
        print("the live view:", flush=True)
        live = bench_live_view(args, work)
        print("critical-path scheduling:", flush=True)
        critical = bench_critical_path(args, work)
        print("CPU-bound stages by executor:", flush=True)
        executors = bench_executors(args, work)
        print("executors against the engines they drive:", flush=True)
        engines = bench_executor_overhead(args, work)
        print("pool designs, in one process:", flush=True)
        designs = bench_pool_designs(args, work)
        print("inputs and outputs:", flush=True)
        freshness = bench_freshness(args, work)
        print("stage output:", flush=True)
        output = bench_output(args, work)
        print("start-up:", flush=True)
        startup = bench_startup(args)
    write_report(
        args.output,
        [
            ("No-op stages: dagrun against the floors", sizes),
            ("The live view's cost", live),
            ("Critical-path scheduling", critical),
            ("CPU-bound stages: thread, process and Dask executors", executors),
            ("Executors against the engines they drive", engines),
            ("Who picks the next stage: pool designs side by side", designs),
            ("Inputs and outputs: what checking freshness costs", freshness),
            ("Stage output: linear in its size on every executor", output),
            ("Start-up", startup),
        ],
        args,
    )


if __name__ == "__main__":
    main()
