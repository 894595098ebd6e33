"""The simulated payment gateway: deterministic by (seed, idempotency key), a decline rate, latency, a record."""

from __future__ import annotations

from decimal import Decimal

import pytest

from adapters.payments import Capture, PaymentGateway, PaymentGatewayError, SimulatedGateway

AMOUNT = Decimal("39.80")


def capture(gateway: SimulatedGateway, key: str, order_id: str = "order-1", amount: Decimal = AMOUNT) -> Capture:
    return gateway.capture(order_id, amount, "EUR", key)


def test_the_simulator_is_a_payment_gateway():
    assert isinstance(SimulatedGateway(), PaymentGateway)


def test_the_same_key_gets_the_same_capture():
    gateway = SimulatedGateway()
    assert capture(gateway, "payment:e-1:0") == capture(gateway, "payment:e-1:0")


def test_the_same_key_gets_the_same_capture_from_a_new_instance():
    assert capture(SimulatedGateway(seed=7), "payment:e-1:0") == capture(SimulatedGateway(seed=7), "payment:e-1:0")


def test_the_same_key_gets_the_same_decline_from_a_new_instance():
    first, again = (capture(SimulatedGateway(decline_rate=1), "payment:e-1:0") for _ in range(2))
    assert (first.approved, first) == (False, again)


def test_different_keys_get_different_references():
    gateway = SimulatedGateway()
    assert capture(gateway, "payment:e-1:0").reference != capture(gateway, "payment:e-2:0").reference


def test_another_seed_gives_other_references():
    assert capture(SimulatedGateway(seed=7), "k").reference != capture(SimulatedGateway(seed=8), "k").reference


def test_the_decline_rate_is_honoured_over_many_keys():
    # Deterministic: this exact count for seed 7, close to 10% of 10,000.
    gateway = SimulatedGateway(decline_rate=0.1, seed=7)
    declined = sum(not gateway.outcome(f"payment:order-{i}:0").approved for i in range(10_000))
    assert declined == 949


@pytest.mark.parametrize("rate, approved", [(0, True), (1, False)])
def test_a_decline_rate_of_0_approves_all_and_of_1_declines_all(rate, approved):
    gateway = SimulatedGateway(decline_rate=rate)
    assert {gateway.outcome(f"k-{i}").approved for i in range(200)} == {approved}


def test_a_decline_says_why():
    declined = capture(SimulatedGateway(decline_rate=1), "k")
    assert declined.decline_reason in {"card declined", "insufficient funds", "card expired"}


def test_the_latency_is_slept_per_capture():
    slept: list[float] = []
    gateway = SimulatedGateway(latency_ms=250, sleep=slept.append)
    capture(gateway, "k-1")
    capture(gateway, "k-1")
    assert slept == [0.25, 0.25]


def test_no_latency_sleeps_not_at_all():
    slept: list[float] = []
    capture(SimulatedGateway(sleep=slept.append), "k-1")
    assert slept == []


def test_a_repeated_key_charges_once():
    gateway = SimulatedGateway(decline_rate=0)
    for _ in range(3):
        capture(gateway, "payment:e-1:0")
    assert (gateway.calls, gateway.charge_count, gateway.charges_by_order()) == (3, 1, {"order-1": 1})


def test_two_keys_for_one_order_show_as_charged_twice():
    gateway = SimulatedGateway(decline_rate=0)
    capture(gateway, "payment:e-1:0")
    capture(gateway, "payment:e-1:1")
    assert gateway.charges_by_order() == {"order-1": 2}


def test_a_decline_is_no_charge():
    gateway = SimulatedGateway(decline_rate=1)
    capture(gateway, "payment:e-1:0")
    assert (gateway.charge_count, len(gateway.captures)) == (0, 1)


def test_the_record_maps_each_key_to_its_capture():
    gateway = SimulatedGateway()
    first = capture(gateway, "k-1")
    assert dict(gateway.captures) == {"k-1": first}


def test_a_key_reused_for_another_amount_is_refused_for_good():
    gateway = SimulatedGateway()
    capture(gateway, "k-1")
    with pytest.raises(PaymentGatewayError, match="was used for 39.80 EUR on order order-1") as raised:
        capture(gateway, "k-1", amount=Decimal("999.00"))
    assert raised.value.retryable is False


def test_the_same_amount_written_otherwise_is_the_same_request():
    gateway = SimulatedGateway()
    assert capture(gateway, "k-1", amount=Decimal("39.8")) == capture(gateway, "k-1", amount=Decimal("39.80"))


def test_a_float_amount_is_refused():
    with pytest.raises(TypeError, match="must be a Decimal"):
        SimulatedGateway().capture("order-1", 39.8, "EUR", "k-1")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "amount, currency, problem",
    [
        ("0", "EUR", "greater than zero"),
        ("-5.00", "EUR", "greater than zero"),
        ("5.001", "EUR", "not exact to the minor unit of EUR"),
        ("5.5", "JPY", "not exact to the minor unit of JPY"),
        ("5.00", "XYZ", "currency 'XYZ' is not supported"),
    ],
)
def test_a_request_a_provider_would_refuse_is_refused_for_good(amount, currency, problem):
    with pytest.raises(PaymentGatewayError, match=problem) as raised:
        SimulatedGateway().capture("order-1", Decimal(amount), currency, "k-1")
    assert raised.value.retryable is False


def test_a_refused_request_is_not_recorded():
    gateway = SimulatedGateway()
    with pytest.raises(PaymentGatewayError):
        gateway.capture("order-1", Decimal("0"), "EUR", "k-1")
    assert (gateway.calls, dict(gateway.captures)) == (0, {})


@pytest.mark.parametrize("settings", [{"decline_rate": 1.5}, {"decline_rate": -0.1}, {"latency_ms": -1}])
def test_a_simulator_with_impossible_settings_is_refused(settings):
    with pytest.raises(ValueError):
        SimulatedGateway(**settings)


@pytest.mark.parametrize(
    "fields",
    [
        {"approved": True, "reference": None, "decline_reason": None},
        {"approved": True, "reference": "r", "decline_reason": "card declined"},
        {"approved": False, "reference": "r", "decline_reason": None},
    ],
)
def test_a_capture_is_either_approved_with_a_reference_or_declined_with_a_reason(fields):
    with pytest.raises(ValueError):
        Capture(**fields)
