"""The embedded source's shortcuts give exactly the domain's values."""

from __future__ import annotations

from uuid import UUID

from hypothesis import given
from hypothesis import strategies as st

from adapters.sources import fast_event_id
from domain.events import event_id_for


@given(st.uuids(), st.integers(min_value=1, max_value=10**9))
def test_fast_event_id_equals_the_domain_event_id(order: UUID, version: int):
    assert fast_event_id(str(order), version) == event_id_for(order, version)
