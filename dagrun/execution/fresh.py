"""Records for stages that declare inputs, outputs or params, kept around any executor: the
inputs are read as the stage starts (what it reads is what is recorded, even if a file changes
while it runs), and a success counts only once every declared output exists and the record of
what it read and wrote is durable. The executors themselves know nothing of it."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Dict, Mapping

from dagrun.core.pipeline import Stage
from dagrun.core.status import StageStatus
from dagrun.execution.calls import CallResult
from dagrun.execution.executors.base import Done, StagePool
from dagrun.store.fresh import Records, make_record, missing_outputs, snapshot


class RecordingPool(StagePool):
    """`pool`, with a record of each declaring stage's success appended before it is reported."""

    def __init__(self, pool: StagePool, stages: Mapping[str, Stage], records: Records, base: Path) -> None:
        self._pool, self._stages, self._records, self._base = pool, stages, records, base
        self.workers, self.notes, self.stopping = pool.workers, pool.notes, pool.stopping
        self._lock = threading.Lock()  # one append at a time: each is one whole line

    def start(self, name: str, done: Done) -> Any:
        stage = self._stages[name]
        if not stage.declares:
            return self._pool.start(name, done)
        old = self._records.get(name) or {}
        files = old.get("input_files")
        known: Dict[str, Any] = {rel: tuple(sig) for rel, sig in files.items()} if isinstance(files, dict) else {}
        try:
            inputs = snapshot(self._base, stage.inputs, known)
        except OSError as e:
            done((StageStatus.FAILED, 0.0, f"dagrun could not read the stage's inputs: {e}"))
            return None

        def finished(outcome: CallResult) -> None:
            status, duration, error = outcome
            if status is StageStatus.SUCCESS:
                missing = missing_outputs(stage, self._base)
                if missing:
                    some = "outputs were" if len(missing) > 1 else "output was"
                    error = f"the function returned, but its declared {some} not written: {', '.join(missing)}"
                    outcome = (StageStatus.FAILED, duration, error)
                else:
                    try:
                        record = make_record(stage, self._base, inputs)
                        with self._lock:
                            self._records.append(name, record)
                    except OSError as e:
                        outcome = (StageStatus.FAILED, duration, f"dagrun could not record its inputs and outputs: {e}")
            done(outcome)

        return self._pool.start(name, finished)

    def why_cancelled(self) -> str:
        return self._pool.why_cancelled()

    def stop(self, handle: Any) -> None:
        if handle is not None:
            self._pool.stop(handle)

    def close(self, abandon: bool = False) -> None:
        self._pool.close(abandon)
