"""The parent's side of a split rebuild's worker processes: start them, read their reports."""

from __future__ import annotations

import dataclasses
import json
import os
import selectors
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from adapters.runner.stats import RunStats


class ShareProgress(NamedTuple):
    """How far a share got: offsets consumed, and messages applied."""

    done: int
    events: int


class ParallelReplayError(RuntimeError):
    """A worker process of a partition-parallel rebuild failed."""


@dataclass(frozen=True)
class ShareResult:
    """What one share of the partitions did (or why it stopped)."""

    done: int = 0  # offsets consumed
    stats: RunStats = field(default_factory=RunStats)
    halt: str | None = None  # "<where>: <error>" if a halt projection stopped
    error: str | None = None  # the worker failed
    peak_rss_mb: float = 0.0  # the peak resident memory of the process that replayed it
    checkpoints: dict[int, int] = field(default_factory=dict)  # the rebuild checkpoints it committed last

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ShareResult:
        values = json.loads(text)
        checkpoints = {int(p): int(o) for p, o in values["checkpoints"].items()}  # JSON keys are text
        return cls(**{**values, "stats": RunStats(**values["stats"]), "checkpoints": checkpoints})


class ShareStopped(Exception):
    """This process's share stops early: another share failed or halted."""


class WorkerReports(threading.Thread):
    """Reads the workers' progress and results (a thread, so this process can replay its own share)."""

    def __init__(self, workers: list[WorkerProcess]) -> None:
        super().__init__(name="rebuild-worker-reports", daemon=True)
        self.workers = workers
        self._lock = threading.Lock()
        self._progress: dict[int, ShareProgress] = {}
        self._results: dict[int, ShareResult] = {}
        self._failure: str | None = None
        self._halted = False

    def run(self) -> None:
        try:
            self._read()
        except Exception as e:  # noqa: BLE001 - handed to the replaying thread
            self._fail(f"reading the rebuild workers' reports failed: {type(e).__name__}: {e}")

    def totals(self) -> ShareProgress:
        """The other shares' progress, summed."""
        with self._lock:
            return ShareProgress(
                sum(p.done for p in self._progress.values()), sum(p.events for p in self._progress.values())
            )

    def results(self) -> list[ShareResult]:
        """Every worker's result (a worker stopped before it had one: an empty result)."""
        with self._lock:
            return [self._results.get(w.index, ShareResult()) for w in self.workers]

    def stop_if_needed(self) -> None:
        """Raise :class:`ShareStopped` once a share failed or halted: the rebuild ends anyway."""
        with self._lock:
            stop = self._failure is not None or self._halted
        if stop:
            raise ShareStopped

    def raise_failure(self) -> None:
        with self._lock:
            failure = self._failure
        if failure is not None:
            raise ParallelReplayError(failure)

    def _fail(self, why: str) -> None:
        with self._lock:
            self._failure = self._failure or why

    def _read(self) -> None:
        with selectors.DefaultSelector() as selector:
            for worker in self.workers:
                selector.register(worker.process.stdout, selectors.EVENT_READ, worker)  # type: ignore[arg-type]
            pending = len(self.workers)
            while pending:
                for key, _ in selector.select():
                    worker = key.data
                    lines = worker.read_lines()
                    if lines is None:  # the worker ended without a result
                        selector.unregister(key.fileobj)
                        pending -= 1
                        if not self._halted:  # (after a halt, the others are stopped on purpose)
                            self._fail(worker.death())
                            return
                        continue
                    for line in lines:
                        kind, _, payload = line.partition(" ")
                        if kind == "progress":
                            done, events = map(int, payload.split())
                            with self._lock:
                                self._progress[worker.index] = ShareProgress(done, events)
                        elif kind == "result":
                            result = ShareResult.from_json(payload)
                            if result.error is not None:
                                self._fail(result.error)
                                return
                            if result.halt is not None:
                                with self._lock:
                                    self._halted = True
                                for other in self.workers:  # the rebuild stops here
                                    other.stop()
                            with self._lock:
                                self._progress[worker.index] = ShareProgress(result.done, result.stats.events)
                                self._results[worker.index] = result
                            selector.unregister(key.fileobj)
                            pending -= 1
                            break


@dataclass
class WorkerProcess:
    """One worker process: ``python -m adapters.runner.rebuild_worker``, its job on stdin, reports on stdout."""

    index: int
    process: subprocess.Popen[bytes]
    stderr: Any
    pending: bytes = b""

    @classmethod
    def start(cls, index: int, job: dict[str, Any]) -> WorkerProcess:
        stderr = tempfile.TemporaryFile(mode="w+")
        # The parent's import path: projections defined outside the package
        # (plugins, tests) import in the worker as they did here.
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        process = subprocess.Popen(
            [sys.executable, "-m", "adapters.runner.rebuild_worker"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, env=env,
        )
        assert process.stdin is not None
        process.stdin.write(json.dumps(job).encode())
        process.stdin.close()
        return cls(index, process, stderr)

    def read_lines(self) -> list[str] | None:
        """The complete lines the worker wrote since the last call; None at its end."""
        assert self.process.stdout is not None
        data = os.read(self.process.stdout.fileno(), 1 << 16)
        if not data:
            return None
        *lines, self.pending = (self.pending + data).split(b"\n")
        return [line.decode() for line in lines]

    def death(self) -> str:
        code = self.process.wait()
        self.stderr.seek(0)
        lines = [line for line in self.stderr.read().splitlines() if line.strip()]
        why = f": {lines[-1]}" if lines else ""
        return (
            f"rebuild worker {self.index} ended (exit code {code}){why}; "
            "its committed work stays: run the rebuild again to resume"
        )

    def stop(self) -> None:
        """End the process (if still running) and reap it; its pipe stays open for the reader."""
        if self.process.poll() is None:
            self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def close(self) -> None:
        if self.process.stdout is not None:
            self.process.stdout.close()
        self.stderr.close()
