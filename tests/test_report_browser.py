"""The page of `dagrun report` as a person sees it: opened from the disk in headless Chromium
(Debian's `chromium`, driven by Playwright), with no network. CI runs these in the nox session
'browser'; a machine without the browser fails them with a message saying what to install, it
never skips them."""

from __future__ import annotations

import base64
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest

import dagrun
from dagrun.core.pipeline import Pipeline
from dagrun.store.history import read_runs
from dagrun.ui import report

from .test_report import busy_history, state_of

pytestmark = pytest.mark.browser

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_path() -> str:
    found = os.environ.get("DAGRUN_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.fail(
            "the browser tests need Chromium and none was found: install it (Debian: apt-get install chromium) "
            "or set DAGRUN_CHROMIUM to its path",
            pytrace=False,
        )
    return found


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the browser tests need Playwright: pip install -e '.[test,browser]'", pytrace=False)
    path = chromium_path()
    with tempfile.TemporaryDirectory() as profile, sync_playwright() as driver:
        context = driver.chromium.launch_persistent_context(
            profile, executable_path=path, args=CHROMIUM_FLAGS, viewport={"width": 1280, "height": 900}
        )
        yield context
        context.close()


class Opened:
    """A page opened from a file, with what it said and asked for on the way."""

    def __init__(self, browser: Any, path: Path) -> None:
        self.errors: List[str] = []
        self.requests: List[str] = []
        self.page = browser.new_page()
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type in ("error", "warning") else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.goto(path.as_uri())
        self.page.wait_for_selector("body[data-ready=true]")

    def texts(self, selector: str) -> List[str]:
        return [t.strip() for t in self.page.locator(selector).all_inner_texts()]


def write_page(pipe: Pipeline, folder: Path, run: int = -1) -> Path:
    out = folder / f"report{run}.html"
    out.write_text(dagrun.report(pipe, run=run))
    return out


@pytest.fixture(scope="module")
def busy(tmp_path_factory: pytest.TempPathFactory) -> Tuple[Pipeline, Path]:
    folder = tmp_path_factory.mktemp("busy")
    return busy_history(folder), folder


def test_the_page_loads_with_no_error_and_asks_nothing_of_the_network(
    busy: Tuple[Pipeline, Path], browser: Any
) -> None:
    pipe, folder = busy
    for run in (1, 2, 3):
        opened = Opened(browser, write_page(pipe, folder, run))
        assert opened.errors == []
        assert opened.requests == [write_page(pipe, folder, run).as_uri()]  # the file itself, nothing more
        assert opened.page.title() == f"dagrun report: {pipe.path}"
        opened.page.close()


def bar_geometry(opened: Opened) -> List[Dict[str, Any]]:
    return list(
        opened.page.eval_on_selector_all(
            "#timeline rect.bar",
            """rects => rects.map(r => ({i: +r.dataset.bar, x: +r.getAttribute('x'), w: +r.getAttribute('width'),
                y: +r.getAttribute('y'), critical: r.classList.contains('critical'),
                kind: [...r.classList].find(c => c.startsWith('k-'))}))""",
        )
    )


def test_one_bar_per_execution_placed_by_its_times(busy: Tuple[Pipeline, Path], browser: Any) -> None:
    pipe, folder = busy
    run = read_runs(state_of(pipe))[0]
    opened = Opened(browser, write_page(pipe, folder, 1))
    bars = sorted(bar_geometry(opened), key=lambda b: b["i"])
    placed = report.bars(run, pipe.needs())
    assert len(bars) == len(run.executions) == len(placed)
    # x = offset + scale * (start - run start), the same offset and scale for every bar.
    starts = [e.start - run.start for e in run.executions]
    first, last = min(range(len(bars)), key=lambda i: starts[i]), max(range(len(bars)), key=lambda i: starts[i])
    scale = (bars[last]["x"] - bars[first]["x"]) / (starts[last] - starts[first])
    assert scale > 0
    for bar, execution, where in zip(bars, run.executions, placed):
        assert bar["x"] == pytest.approx(bars[first]["x"] + scale * (starts[bar["i"]] - starts[first]), abs=1.0)
        assert bar["w"] == pytest.approx(max(1.0, scale * (execution.end - execution.start)), abs=1.0)
        assert bar["kind"] == "k-" + where.kind
        assert bar["critical"] == where.critical
    rows = sorted({b["y"] for b in bars})
    assert [rows.index(b["y"]) for b in bars] == [p.slot for p in placed]
    kinds = {b["kind"] for b in bars}
    assert {"k-succeeded", "k-failed", "k-retried"} <= kinds


def test_the_critical_path_is_marked_and_named(busy: Tuple[Pipeline, Path], browser: Any) -> None:
    pipe, folder = busy
    run = read_runs(state_of(pipe))[0]
    on = report.critical_path(run.executions, pipe.needs())
    kinds = report.kinds(run.executions)
    chain = [
        run.executions[i].stage + (f" (attempt {run.executions[i].attempt})" if kinds[i] == "retried" else "")
        for i in sorted(on, key=lambda i: run.executions[i].start)
    ]
    opened = Opened(browser, write_page(pipe, folder, 1))
    assert {b["i"] for b in bar_geometry(opened) if b["critical"]} == on
    assert " \u2192 ".join(chain) in opened.page.inner_text("#critical")
    border = opened.page.eval_on_selector("#timeline rect.critical", "r => getComputedStyle(r).strokeWidth")
    assert border == "2.5px"
    # In the graph, the edges between consecutive stages of the chain (not a retry's own step).
    stages = [run.executions[i].stage for i in sorted(on, key=lambda i: run.executions[i].start)]
    steps = sum(1 for a, b in zip(stages, stages[1:]) if a != b)
    assert opened.page.locator("#graph path.edge.critical").count() == steps > 0


def test_hovering_a_bar_shows_its_exact_times(busy: Tuple[Pipeline, Path], browser: Any) -> None:
    pipe, folder = busy
    opened = Opened(browser, write_page(pipe, folder, 1))
    opened.page.hover("#timeline rect.k-failed")
    tip = opened.page.inner_text("#tip")
    assert tip.startswith("Check") and "failed" in tip and "started" in tip and "ended" in tip and "took" in tip


def test_clicking_a_failed_stage_shows_its_traceback_and_output(busy: Tuple[Pipeline, Path], browser: Any) -> None:
    pipe, folder = busy
    opened = Opened(browser, write_page(pipe, folder, 1))
    assert opened.page.is_hidden("#details")
    opened.page.click("#timeline rect.k-failed")
    details = opened.page.locator("#details")
    assert details.is_visible()
    assert opened.page.inner_text("#details h2") == "Check"
    traceback = opened.page.inner_text("#details pre.traceback")
    assert traceback.startswith("Traceback (most recent call last)")
    assert traceback.strip().endswith("ValueError: Check found 2 broken links")
    assert "checking 3 pages" in opened.page.inner_text("#details pre.log")
    text = details.inner_text()
    assert "Needs\nBuild" in text and "Needed by\nPublish" in text
    # From the graph too: the blocked stage says what blocked it, and links to it.
    opened.page.click('#graph g.node:has-text("Publish") rect')
    assert opened.page.inner_text("#details h2") == "Publish"
    assert "blocked by Check" in details.inner_text()
    opened.page.click("#details a >> text=Check")
    assert opened.page.inner_text("#details h2") == "Check"
    opened.page.keyboard.press("Escape")
    assert opened.page.is_hidden("#details")
    opened.page.focus('#stages tbody tr:has(td:text-is("Docs"))')  # the table works from the keyboard
    opened.page.keyboard.press("Enter")
    assert opened.page.inner_text("#details h2") == "Docs"
    # A retried stage lists both attempts, each with its outcome.
    opened.page.click('#stages tbody tr >> text="Flaky"')
    attempts = opened.texts("#details table.attempts tbody tr")
    assert len(attempts) == 2 and "failed, then retried" in attempts[0] and "succeeded" in attempts[1]
    assert "ConnectionError: the mirror hung up" in opened.page.inner_text("#details pre.traceback")


def test_the_table_sorts_and_filters(busy: Tuple[Pipeline, Path], browser: Any) -> None:
    pipe, folder = busy
    run = read_runs(state_of(pipe))[0]
    took: Dict[str, float] = {}
    for e in sorted(run.executions, key=lambda e: e.start):
        took[e.stage] = e.end - e.start  # the last attempt's
    opened = Opened(browser, write_page(pipe, folder, 1))
    names = lambda: opened.texts("#stages tbody tr td:first-child")  # noqa: E731
    order = list(pipe.names).index  # ties (times are kept to the millisecond) in the file's order
    opened.page.click('#stages th[data-key="duration"] button')
    assert names()[:-1] == sorted(took, key=lambda n: (-round(took[n], 3), order(n)))  # longest first
    assert names()[-1] == "Publish"  # did not run: last either way
    assert opened.page.get_attribute('#stages th[data-key="duration"]', "aria-sort") == "descending"
    opened.page.click('#stages th[data-key="duration"] button')
    assert names()[:-1] == sorted(took, key=lambda n: (round(took[n], 3), order(n)))
    assert names()[-1] == "Publish"
    opened.page.click('#stages th[data-key="name"] button')
    assert names() == sorted(pipe.names, key=str.lower)
    opened.page.fill("#filter", "f")
    assert names() == ["Fetch", "Flaky"] and opened.page.inner_text("#shown") == "2 of 6 stages"


def test_the_graph_is_drawn_left_to_right_and_coloured_by_state(busy: Tuple[Pipeline, Path], browser: Any) -> None:
    pipe, folder = busy
    opened = Opened(browser, write_page(pipe, folder, 1))
    nodes = opened.page.eval_on_selector_all(
        "#graph g.node",
        "gs => gs.map(g => [g.querySelector('text').textContent, +g.querySelector('rect').getAttribute('x'),"
        " g.getAttribute('class')])",
    )
    x = {name: left for name, left, _ in nodes}
    assert set(x) == set(pipe.names)
    for name, stage in pipe.stages.items():
        assert all(x[need] < x[name] for need in stage.needs)
    classes = {name: cls for name, _, cls in nodes}
    assert "s-failed" in classes["Check"] and "s-blocked" in classes["Publish"] and "s-succeeded" in classes["Fetch"]
    assert len(opened.page.query_selector_all("#graph path.edge")) == sum(len(s.needs) for s in pipe.stages.values())


def test_each_stage_shows_its_durations_over_the_runs(busy: Tuple[Pipeline, Path], browser: Any) -> None:
    pipe, folder = busy
    opened = Opened(browser, write_page(pipe, folder, 3))
    row = opened.page.locator('#stages tbody tr:has(td:text-is("Check"))')
    assert row.locator("svg.spark polyline").count() == 1
    history = row.locator("svg.spark title").text_content() or ""
    assert [line.split(":")[0] for line in history.splitlines()] == ["run 1", "run 2", "run 3"]
    assert "failed" in history.splitlines()[0]


def test_a_screenshot_is_not_blank(busy: Tuple[Pipeline, Path], browser: Any) -> None:
    pipe, folder = busy
    opened = Opened(browser, write_page(pipe, folder, 1))
    png = opened.page.screenshot()
    colours = colour_counts(browser, png)
    white = colours.get("255,255,255", 0)
    total = sum(colours.values())
    assert total == 1280 * 900
    assert len(colours) > 50 and white < 0.9 * total  # text, bars and a graph, not an empty page
    for colour in ("47,158,91", "214,69,69", "231,154,43"):  # succeeded, failed, retried
        assert colours.get(colour, 0) > 100, colour


def colour_counts(browser: Any, png: bytes) -> Dict[str, int]:
    """The pixels of a PNG by colour, decoded by the browser itself (no image library needed)."""
    page = browser.new_page()
    try:
        page.set_content("<canvas></canvas>")
        return dict(
            page.evaluate(
                """async (src) => {
                    const img = new Image(); img.src = src; await img.decode();
                    const c = document.querySelector('canvas'); c.width = img.width; c.height = img.height;
                    const ctx = c.getContext('2d'); ctx.drawImage(img, 0, 0);
                    const px = ctx.getImageData(0, 0, c.width, c.height).data, seen = {};
                    for (let i = 0; i < px.length; i += 4) {
                        const k = px[i] + ',' + px[i+1] + ',' + px[i+2]; seen[k] = (seen[k] || 0) + 1;
                    }
                    return seen;
                }""",
                "data:image/png;base64," + base64.b64encode(png).decode(),
            )
        )
    finally:
        page.close()


def test_ten_thousand_stages_open_with_the_timeline_and_table(tmp_path: Path, browser: Any) -> None:
    n = 10_000
    lines = [f"s{i}: [{f's{i - 1}' if i % 100 else ''}]" for i in range(n)]
    (tmp_path / "stages.yaml").write_text("\n".join(lines) + "\n")
    pipe = dagrun.load_pipeline(tmp_path / "stages.yaml")
    result = dagrun.run(pipe, {name: (lambda: None) for name in pipe.names}, dagrun.RunOptions(workers=4))
    assert result.ok
    opened = Opened(browser, write_page(pipe, tmp_path))
    assert opened.errors == []
    assert opened.page.locator("#timeline rect.bar").count() == n
    assert opened.page.locator("#timeline rect.bar.critical").count() >= 100  # a chain of 100 at least
    assert "the graph is drawn up to 300 stages" in opened.page.inner_text("#graph-summary")
    assert opened.page.locator("#graph g.node").count() == 0
    shown = opened.page.locator("#stages tbody tr").count()
    assert 0 < shown < n and opened.page.inner_text("#more") == f"showing {shown} of {n}: scroll for more"
    opened.page.locator("#more").scroll_into_view_if_needed()
    opened.page.locator("#stages tbody tr").nth(shown).wait_for()  # the next page of rows came
    opened.page.fill("#filter", "s9999")
    assert opened.texts("#stages tbody tr td:first-child") == ["s9999"]
    opened.page.click('#stages tbody tr >> text="s9999"')
    assert opened.page.inner_text("#details h2") == "s9999" and "Needs\ns9998" in opened.page.inner_text("#details")
