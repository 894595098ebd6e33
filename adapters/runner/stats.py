"""What a projection run or rebuild did, and a rebuild's progress: plain values."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from projections.apply import BatchResult


@dataclass
class RunStats:
    """What a run did, summed over its projections."""

    events: int = 0  # messages consumed: applied + duplicates + dead + parked
    applied: int = 0
    duplicates: int = 0
    dead: int = 0
    parked: int = 0
    batches: int = 0
    fenced: int = 0
    processes: int = 1  # a rebuild split over processes (see adapters.runner.parallel)
    worker_peak_rss_mb: list[float] = field(default_factory=list)  # of those processes
    seconds: float = 0.0
    rebuilt: list[str] = field(default_factory=list)
    halted: dict[str, str] = field(default_factory=dict)  # projection -> why

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0

    def add(self, result: BatchResult) -> None:
        self.events += result.consumed
        self.applied += result.applied
        self.duplicates += result.duplicates
        self.dead += result.dead
        self.parked += result.parked
        self.batches += 1

    def merge(self, other: RunStats) -> None:
        for name in ("events", "applied", "duplicates", "dead", "parked", "batches", "fenced"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.rebuilt += other.rebuilt
        self.halted.update(other.halted)


@dataclass(frozen=True)
class Progress:
    """A rebuild's progress, after each batch."""

    projection: str
    done: int  # offsets consumed since the rebuild (re)started
    total: int  # offsets to consume to reach the end offsets taken at the start
    events: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


ProgressCallback = Callable[[Progress], None]
