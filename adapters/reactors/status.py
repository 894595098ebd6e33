"""What the effects outbox holds, per reactor: pending, dispatched, failed, suppressed, the last failures."""

from __future__ import annotations

from dataclasses import dataclass, field

from adapters.bootstrap import System
from adapters.sql.effects import FailedEffect, count_effects, failed_effects
from adapters.sql.schema import EffectStatus


@dataclass(frozen=True)
class EffectsStatus:
    reactor: str
    pending: int
    dispatched: int
    failed: int
    suppressed: int
    failures: list[FailedEffect] = field(default_factory=list)  # the newest first


def effects_status(system: System) -> list[EffectsStatus]:
    """Every reactor found (and any other with effects recorded), in name order."""
    with system.read_models_for_reading.connect() as conn:
        try:
            counts = count_effects(conn)
            names = sorted({r.name for r in system.reactors} | set(counts))
            return [
                EffectsStatus(
                    reactor=name,
                    pending=counts.get(name, {}).get(EffectStatus.PENDING, 0),
                    dispatched=counts.get(name, {}).get(EffectStatus.DISPATCHED, 0),
                    failed=counts.get(name, {}).get(EffectStatus.FAILED, 0),
                    suppressed=counts.get(name, {}).get(EffectStatus.SUPPRESSED, 0),
                    failures=failed_effects(conn, name, limit=5),
                )
                for name in names
            ]
        finally:
            conn.rollback()
