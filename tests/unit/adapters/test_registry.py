"""Discovery: built-ins, entry points and ORDERS_PROJECTIONS; names are unique."""

from __future__ import annotations

from importlib.metadata import EntryPoint

import pytest
from sqlalchemy import MetaData

import projections
from adapters.config import ConfigurationError, Settings
from adapters.registry import ENTRY_POINT_GROUP, discover, select_by_name
from projections.contract import Projection
from tests.unit.projections.kit import DeadLetterCounts, EventCounts

KIT = "tests.unit.projections.kit"


class Impostor(Projection):
    """Another projection calling itself order_summary."""

    name = "order_summary"
    metadata = MetaData()


def entry_point(name: str, value: str) -> EntryPoint:
    return EntryPoint(name=name, value=value, group=ENTRY_POINT_GROUP)


def test_built_in_projections_are_discovered():
    assert discover(Settings(), eps=[]) == projections.BUILT_IN


def test_a_projection_named_in_configuration_is_discovered():
    found = discover(Settings(extra_projections=(f"{KIT}:EventCounts",)), eps=[])
    assert found[-1] is EventCounts


def test_a_projection_registered_by_entry_point_is_discovered():
    found = discover(Settings(), eps=[entry_point("dead_letter_counts", f"{KIT}:DeadLetterCounts")])
    assert found[-1] is DeadLetterCounts


def test_the_same_class_registered_twice_is_listed_once():
    found = discover(
        Settings(extra_projections=(f"{KIT}:EventCounts",)),
        eps=[entry_point("event_counts", f"{KIT}:EventCounts")],
    )
    assert found.count(EventCounts) == 1


def test_two_projections_with_one_name_are_refused():
    with pytest.raises(ConfigurationError, match="two projections are named 'order_summary'"):
        discover(Settings(extra_projections=(f"{__name__}:Impostor",)), eps=[])


def test_a_configured_module_that_does_not_exist_is_named():
    with pytest.raises(ConfigurationError, match="'no_such_module:Thing'.*no module named 'no_such_module'"):
        discover(Settings(extra_projections=("no_such_module:Thing",)), eps=[])


def test_a_configured_class_that_does_not_exist_is_named():
    with pytest.raises(ConfigurationError, match=f"'{KIT}:Nothing'.*has no 'Nothing'"):
        discover(Settings(extra_projections=(f"{KIT}:Nothing",)), eps=[])


def test_a_configured_entry_without_a_class_is_refused():
    with pytest.raises(ConfigurationError, match="must look like package.module:ClassName"):
        discover(Settings(extra_projections=(KIT,)), eps=[])


def test_a_configured_object_that_is_not_a_projection_is_refused():
    with pytest.raises(ConfigurationError, match="is not a Projection subclass"):
        discover(Settings(extra_projections=(f"{KIT}:event",)), eps=[])


def test_an_entry_point_that_cannot_load_is_named():
    with pytest.raises(ConfigurationError, match="entry point broken = no_such_module:X"):
        discover(Settings(), eps=[entry_point("broken", "no_such_module:X")])


def test_selecting_an_unknown_name_lists_the_known_ones():
    with pytest.raises(ConfigurationError, match="no projection named 'nope'; known: event_counts"):
        select_by_name([EventCounts], ["nope"])

