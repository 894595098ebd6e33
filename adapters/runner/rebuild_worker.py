"""A worker process of a split rebuild: ``python -m adapters.runner.rebuild_worker``.

Reads its job (JSON) on stdin, replays its share into the shadow tables and
reports on stdout: ``progress DONE EVENTS`` lines, then one ``result JSON``
line. Nothing imports this module: it is only ever ``__main__``.
"""

from __future__ import annotations

import importlib
import json
import os
import sys

from adapters.bootstrap import open_system
from adapters.config import Settings
from adapters.eventstore.log import OrderShare
from adapters.runner.parallel import replay_share
from adapters.runner.worker_processes import ParallelReplayError, ShareResult


def main() -> None:
    """A worker process: read the job (JSON) from stdin, replay its share, report on stdout."""
    job = json.loads(sys.stdin.read())
    values = dict(job["settings"])
    values["extra_projections"] = tuple(values.get("extra_projections") or ())
    settings = Settings(**values)
    ends = {int(p): int(o) for p, o in job["ends"].items()}
    parent = job["parent"]

    def report(done: int, events: int) -> None:
        if os.getppid() != parent:
            raise ParallelReplayError("the rebuild that started this worker is gone")
        print(f"progress {done} {events}", flush=True)

    try:
        projection = getattr(importlib.import_module(job["module"]), job["qualname"])
        share = None if job["share"] is None else OrderShare(*job["share"])
        with open_system(settings) as system:
            result = replay_share(
                system, projection, ends, share, job["created_empty"], job["fingerprint"], job["batch_size"],
                job["flush_every"], job["max_cached_rows"], report,
            )
    except Exception as e:  # noqa: BLE001 - reported to the parent, which raises it as one line
        result = ShareResult(error=f"rebuild worker: {type(e).__name__}: {e}")
    print("result " + result.to_json(), flush=True)


if __name__ == "__main__":
    main()
