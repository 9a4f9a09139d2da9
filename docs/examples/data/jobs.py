"""The stages of the data-pipeline example: temperature readings, made up on the spot."""

import csv
import json
import pathlib
import random

RAW = pathlib.Path("data/raw")


def Download() -> None:
    """Two weeks of readings, one CSV each; a file that is already there is kept."""
    RAW.mkdir(parents=True, exist_ok=True)
    rng = random.Random(7)
    for week in ("week1", "week2"):
        path = RAW / f"{week}.csv"
        if not path.exists():
            rows = [f"2026-11-{day:02d},{rng.uniform(-5, 25):.1f}" for day in range(1, 8)]
            path.write_text("day,celsius\n" + "\n".join(rows) + "\n99-bad,999\n")


def Clean(min_temp: float, max_temp: float) -> None:
    """Every reading in range, from every raw file, in one CSV."""
    kept = []
    for path in sorted(RAW.glob("*.csv")):
        with path.open() as f:
            kept += [row for row in csv.DictReader(f) if min_temp <= float(row["celsius"]) <= max_temp]
    with open("data/clean.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, ["day", "celsius"])
        writer.writeheader()
        writer.writerows(kept)


def Train() -> None:
    """The "model": the mean and the spread of the readings."""
    with open("data/clean.csv") as f:
        values = [float(row["celsius"]) for row in csv.DictReader(f)]
    mean = sum(values) / len(values)
    spread = (sum((v - mean) ** 2 for v in values) / len(values)) ** 0.5
    pathlib.Path("data/model.json").write_text(json.dumps({"mean": round(mean, 2), "spread": round(spread, 2)}))


def Report() -> None:
    model = json.loads(pathlib.Path("data/model.json").read_text())
    with open("data/clean.csv") as f:
        count = sum(1 for _ in csv.DictReader(f))
    text = f"{count} readings, mean {model['mean']} °C, spread {model['spread']} °C\n"
    pathlib.Path("report.txt").write_text(text)
    print(text, end="")
