"""Which rebuilds may be split over processes, and how the partitions are shared out."""

from __future__ import annotations

from sqlalchemy import MetaData

from adapters.config import Settings
from adapters.runner.parallel import (
    importable,
    per_process,
    process_count,
    split,
)
from adapters.runner.stats import RunStats
from adapters.runner.worker_processes import ShareResult
from adapters.sql.rows import all_keyed_by_order
from projections.contract import Projection
from projections.customer_orders import CustomerOrders
from projections.order_summary import OrderSummary
from projections.product_sales import ProductSales


def test_a_projection_whose_tables_are_all_keyed_by_order_id_can_be_split():
    assert all_keyed_by_order(OrderSummary)


def test_projections_with_rows_per_customer_or_sku_cannot_be_split():
    assert not all_keyed_by_order(CustomerOrders)
    assert not all_keyed_by_order(ProductSales)


def test_partitions_are_dealt_round_robin_into_non_empty_shares():
    assert split([0, 1, 2, 3, 4, 5], 2) == [[0, 2, 4], [1, 3, 5]]
    assert split([0, 1], 4) == [[0], [1]]


def test_each_process_of_a_split_rebuild_gets_its_part_of_the_rebuilds_memory_bounds():
    assert per_process(150_000, 1) == 150_000
    assert per_process(150_000, 2) == 75_000
    assert per_process(40_000, 3) == 13_333
    assert per_process(2, 4) == 1


def test_the_process_count_follows_the_setting_and_never_exceeds_the_partitions():
    assert process_count(Settings(rebuild_processes=3), 6) == 3
    assert process_count(Settings(rebuild_processes=8), 6) == 6
    assert process_count(Settings(rebuild_processes=1), 6) == 1
    assert process_count(Settings(), 1) == 1


def test_only_projections_a_worker_process_can_import_by_name_are_split():
    assert importable(OrderSummary)

    def local():
        class Local(Projection):
            name = "local_counts"
            metadata = MetaData()

        return Local

    assert not importable(local())


def test_a_projection_defined_in_a_script_is_not_split():
    class Scripted(Projection):
        name = "scripted_counts"
        metadata = MetaData()

    Scripted.__module__ = "__main__"
    assert not importable(Scripted)


def test_a_share_result_crosses_the_process_boundary_as_json_unchanged():
    stats = RunStats(events=10, applied=8, duplicates=2, batches=3)
    result = ShareResult(done=12, stats=stats, halt="x: y", peak_rss_mb=1.5)
    assert ShareResult.from_json(result.to_json()) == result
