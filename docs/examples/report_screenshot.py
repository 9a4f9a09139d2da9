"""Make docs/report.png, the picture of `dagrun report` in the README and docs/cli.md: the example
pipeline run three times (a failure, the resume, a full run) in a scratch folder, the report of
the last run, a screenshot in headless Chromium.

    python docs/examples/report_screenshot.py        # needs dagrun, playwright and chromium
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]


def dagrun(folder: Path, *args: str, **env: str) -> None:
    command = [sys.executable, "-m", "dagrun", *args]
    subprocess.run(command, cwd=folder, env={**os.environ, **env}, stdout=subprocess.DEVNULL, check=False)


def main() -> None:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        for name in ("stages.example.yaml", "example_jobs.py"):
            shutil.copy(ROOT / name, folder / name)
        run = ("run", "stages.example.yaml", "--jobs", "example_jobs", "--progress", "plain")
        dagrun(folder, *run, DAGRUN_EXAMPLE_FAIL="Coverage")
        dagrun(folder, *run)
        dagrun(folder, "reset", "stages.example.yaml")
        dagrun(folder, *run)
        dagrun(folder, "report", "stages.example.yaml", "-o", "report.html")
        chromium = os.environ.get("DAGRUN_CHROMIUM") or shutil.which("chromium") or "chromium"
        with sync_playwright() as driver:
            browser = driver.chromium.launch(executable_path=chromium, args=FLAGS)
            page = browser.new_page(viewport={"width": 1200, "height": 860}, device_scale_factor=1)
            page.goto((folder / "report.html").as_uri())
            page.wait_for_selector("body[data-ready=true]")
            page.screenshot(path=str(ROOT / "docs" / "report.png"))
            browser.close()
    print(f"wrote {ROOT / 'docs' / 'report.png'}")


if __name__ == "__main__":
    main()
