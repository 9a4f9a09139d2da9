#!/usr/bin/env python3
"""What `dagrun report` costs: writing the page (a whole `dagrun report` process, against `dagrun
status` on the same state, which reads the same stages file and history), and opening it in
headless Chromium (from navigation until the page is drawn and laid out), the page as shipped
against the same page drawing every table row at once (the baseline of its one speed device).

    python benchmarks/report_page.py            # 1,000 and 10,000 stages, medians of 5
    python benchmarks/report_page.py --smoke    # 100 stages, once: checks that it works (CI)

Needs Playwright and Debian's chromium (or DAGRUN_CHROMIUM). Writes its section of
docs/performance.md (between its own marks) and leaves the rest of the file alone.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import ROOT, machine, make_pipeline, run_once

MARK_START, MARK_END = "<!-- benchmark:report:start -->", "<!-- benchmark:report:end -->"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
PAGED, ALL_AT_ONCE = "const PAGE = 250;", "const PAGE = 1e9;"


def open_time(browser: Any, page_file: Path) -> float:
    """Seconds from navigation until the page's script has drawn it and the browser has laid it out
    and painted a frame (two animation frames after the page says it is ready)."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        start = time.perf_counter()
        page.goto(page_file.as_uri())
        page.wait_for_selector("body[data-ready=true]", timeout=120_000)
        page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
        return time.perf_counter() - start
    finally:
        page.close()


def main(argv: Optional[List[str]] = None) -> None:
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="100 stages, once")
    parser.add_argument("--repeat", type=int)
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "performance.md")
    args = parser.parse_args(argv)
    sizes = [100] if args.smoke else [1_000, 10_000]
    repeat = args.repeat or (1 if args.smoke else 5)
    chromium = os.environ.get("DAGRUN_CHROMIUM") or shutil.which("chromium") or "chromium"
    dagrun = [sys.executable, "-m", "dagrun"]
    rows = [
        f"Pipelines of no-op stages (mesh), run three times (so each page has three runs of history, "
        f"a sparkline per stage), on 4 workers; medians of {repeat}.",
        "",
        "| stages | `dagrun status` (the baseline) | `dagrun report` | page size | open in Chromium: every row at once "
        "(the baseline) | as shipped (rows added as the table scrolls) | gain |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    with tempfile.TemporaryDirectory(prefix="dagrun-bench-report-") as tmp, sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=chromium, args=FLAGS)
        for n in sizes:
            folder = Path(tmp) / f"mesh-{n}"
            make_pipeline(folder, "mesh", n)
            run = [*dagrun, "run", "--jobs", "jobs.py", "-j", "4", "--progress", "quiet"]
            run_once(run, folder, folder / "run.txt")
            for _ in range(2):
                run_once([*run, "--force", "s0"], folder, folder / "run.txt")
            walls: Dict[str, List[float]] = {"status": [], "report": [], "paged": [], "all": []}
            for _ in range(repeat):
                walls["status"].append(run_once([*dagrun, "status"], folder, folder / "status.txt").wall)
                walls["report"].append(
                    run_once([*dagrun, "report", "-o", "paged.html"], folder, folder / "report.txt").wall
                )
            paged = folder / "paged.html"
            text = paged.read_text()
            assert PAGED in text, "the page's paging constant moved: update this benchmark"
            (folder / "all.html").write_text(text.replace(PAGED, ALL_AT_ONCE))
            for _ in range(repeat):
                walls["all"].append(open_time(browser, folder / "all.html"))
                walls["paged"].append(open_time(browser, paged))
            med = {key: statistics.median(values) for key, values in walls.items()}
            size = paged.stat().st_size / 2**20
            print(
                f"  {n:>6} stages: status {med['status']:.3f} s, report {med['report']:.3f} s ({size:.2f} MiB); "
                f"open: all rows {med['all']:.3f} s, paged {med['paged']:.3f} s",
                flush=True,
            )
            rows.append(
                f"| {n:,} | {med['status']:.3f} s | {med['report']:.3f} s ({med['report'] / med['status']:.2f}x) | "
                f"{size:.2f} MiB | {med['all']:.3f} s | {med['paged']:.3f} s | {med['all'] / med['paged']:.1f}x |"
            )
        browser.close()
    write_section(args.output, rows, " ".join(["python benchmarks/report_page.py", *(argv or sys.argv[1:])]))


def write_section(path: Path, rows: List[str], command: str) -> None:
    body = [
        MARK_START,
        "",
        f"Measured {time.strftime('%Y-%m-%d')} on {machine()}, with `{command.strip()}`.",
        "",
        *rows,
        "",
        MARK_END,
    ]
    text = path.read_text() if path.exists() else f"# Performance\n\n{MARK_START}\n{MARK_END}\n"
    if MARK_START in text and MARK_END in text:
        before, rest = text.split(MARK_START, 1)
        text = before + "\n".join(body) + rest.split(MARK_END, 1)[1]
    else:
        text += "\n" + "\n".join(body) + "\n"
    path.write_text(text)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
