"""Random command sequences against a plain model of an order.

The model says, for every command, whether it must succeed (and how many
events it records) or which ``OrderError`` it must raise. After every step
the aggregate must agree with the model, hold no pending events, and replaying
every event recorded so far must rebuild exactly the same aggregate.
"""

from __future__ import annotations

from decimal import Decimal

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from domain.errors import (
    DuplicateLineError,
    DuplicatePaymentError,
    EmptyOrderError,
    InvalidAddressError,
    InvalidMoneyError,
    InvalidPaymentReferenceError,
    InvalidQuantityError,
    InvalidSkuError,
    InvalidTransitionError,
    LineNotFoundError,
    MissingShippingAddressError,
    OrderError,
    PaymentMismatchError,
    PaymentReferenceConflictError,
)
from domain.order import Order

SKUS = ["SKU-1", "SKU-2", "BOOK-42", "MUG-7", "bad sku"]
VALID_SKUS = [s for s in SKUS if s != "bad sku"]

# Candidate quantities and whether each is valid.
QUANTITIES = {1: True, 2: True, 7: True, 999: True, "3": True, 0: False, 1000: False, -1: False, "x": False}

# Candidate unit prices and the currencies in which each is valid.
ALL = {"EUR", "JPY", "KWD"}
PRICES = {
    "1": ALL,
    "250": ALL,
    "1000000": ALL,
    "0.01": {"EUR", "KWD"},
    "12.5": {"EUR", "KWD"},
    "0.005": {"KWD"},
    "1.2345": set(),
    "0": set(),
    "-3": set(),
    "1000000.01": set(),
    "abc": set(),
}
MINOR = {"EUR": Decimal("0.01"), "JPY": Decimal("1"), "KWD": Decimal("0.001")}

GOOD_ADDRESS = {"name": "Sam", "street": "1 Main St", "city": "Rome", "postal_code": "00100", "country": "IT"}
ADDRESSES = {
    "good": GOOD_ADDRESS,
    "no city": {k: v for k, v in GOOD_ADDRESS.items() if k != "city"},
    "bad country": {**GOOD_ADDRESS, "country": "Italy"},
}

PLACED, CONFIRMED, PAID, SHIPPED, DELIVERED, CANCELLED = (
    "placed", "confirmed", "paid", "shipped", "delivered", "cancelled",
)


class OrderMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.order: Order | None = None
        self.recorded: list = []
        # The model.
        self.status = PLACED
        self.currency = "EUR"
        self.lines: dict[str, tuple[int, Decimal]] = {}
        self.address_set = False
        self.payment_reference: str | None = None
        self.amount_paid: Decimal | None = None
        self.refund_due: Decimal | None = None
        self.cancel_reason: str | None = None

    @property
    def total(self) -> Decimal:
        return sum((q * p for q, p in self.lines.values()), start=Decimal(0))

    def run(self, command, expected_error: type[OrderError] | None, events: int = 1) -> None:
        """Run ``command``; it must raise ``expected_error`` or record ``events`` events."""
        try:
            command(self.order)
        except OrderError as error:
            assert expected_error is not None, f"unexpected {error!r}"
            assert type(error) is expected_error, f"expected {expected_error.__name__}, got {error!r}"
            assert not self.order.pending_events, "a failed command left pending events"
            return
        assert expected_error is None, f"expected {expected_error.__name__}, the command succeeded"
        new = list(self.order.collect_events())
        assert len(new) == events, f"expected {events} events, got {new}"
        self.recorded.extend(new)

    # ---- start --------------------------------------------------------

    @initialize(
        currency=st.sampled_from(sorted(ALL)),
        skus=st.lists(st.sampled_from(VALID_SKUS), min_size=1, max_size=3, unique=True),
        quantity=st.integers(1, 5),
    )
    def place(self, currency, skus, quantity):
        self.currency = currency
        self.order = Order.place("customer-1", [(s, quantity, "250") for s in skus], currency)
        self.recorded.extend(self.order.collect_events())
        self.lines = {s: (quantity, Decimal("250")) for s in skus}

    # ---- lines ----------------------------------------------------------

    @rule(sku=st.sampled_from(SKUS), quantity=st.sampled_from(list(QUANTITIES)), price=st.sampled_from(list(PRICES)))
    def add_line(self, sku, quantity, price):
        if self.status != PLACED:
            expected = InvalidTransitionError
        elif sku not in VALID_SKUS:
            expected = InvalidSkuError
        elif sku in self.lines:
            expected = DuplicateLineError
        elif not QUANTITIES[quantity]:
            expected = InvalidQuantityError
        elif self.currency not in PRICES[price]:
            expected = InvalidMoneyError
        else:
            expected = None
        self.run(lambda o: o.add_line(sku, quantity, price), expected)
        if expected is None:
            self.lines[sku] = (int(quantity), Decimal(price))

    @rule(sku=st.sampled_from(SKUS))
    def remove_line(self, sku):
        if self.status != PLACED:
            expected = InvalidTransitionError
        elif sku not in VALID_SKUS:
            expected = InvalidSkuError
        elif sku not in self.lines:
            expected = LineNotFoundError
        else:
            expected = None
        self.run(lambda o: o.remove_line(sku), expected)
        if expected is None:
            del self.lines[sku]

    @rule(sku=st.sampled_from(SKUS), quantity=st.sampled_from(list(QUANTITIES)))
    def change_quantity(self, sku, quantity):
        if self.status != PLACED:
            expected = InvalidTransitionError
        elif sku not in VALID_SKUS:
            expected = InvalidSkuError
        elif sku not in self.lines:
            expected = LineNotFoundError
        elif not QUANTITIES[quantity]:
            expected = InvalidQuantityError
        else:
            expected = None
        unchanged = expected is None and self.lines[sku][0] == int(quantity)
        self.run(lambda o: o.change_quantity(sku, quantity), expected, events=0 if unchanged else 1)
        if expected is None:
            self.lines[sku] = (int(quantity), self.lines[sku][1])

    # ---- lifecycle ------------------------------------------------------

    @rule(kind=st.sampled_from(["good", "good", "good", *ADDRESSES]))
    def set_shipping_address(self, kind):
        if self.status not in (PLACED, CONFIRMED):
            expected = InvalidTransitionError
        elif kind != "good":
            expected = InvalidAddressError
        else:
            expected = None
        self.run(lambda o: o.set_shipping_address(dict(ADDRESSES[kind])), expected)
        if expected is None:
            self.address_set = True

    @rule()
    def confirm(self):
        if self.status != PLACED:
            expected = InvalidTransitionError
        elif not self.lines:
            expected = EmptyOrderError
        elif not self.address_set:
            expected = MissingShippingAddressError
        else:
            expected = None
        self.run(lambda o: o.confirm(), expected)
        if expected is None:
            self.status = CONFIRMED

    @rule(
        reference=st.sampled_from(["pay-1", "pay-1", "pay-2", ""]),
        exact=st.sampled_from([True, True, True, False]),
        same_currency=st.sampled_from([True, True, True, False]),
    )
    def record_payment(self, reference, exact, same_currency):
        currency = self.currency if same_currency else ("USD" if self.currency != "USD" else "EUR")
        amount = self.total if exact else self.total + MINOR[self.currency]
        events = 1
        if not reference:
            expected = InvalidPaymentReferenceError
        elif self.payment_reference is not None:
            if reference != self.payment_reference:
                expected = DuplicatePaymentError
            elif not same_currency or not exact:
                expected = PaymentReferenceConflictError  # a repeat must match what was recorded
            else:
                expected = None
            events = 0
        elif self.status != CONFIRMED:
            expected = InvalidTransitionError
        elif not same_currency or not exact:
            expected = PaymentMismatchError
        else:
            expected = None
        self.run(lambda o: o.record_payment(reference, amount, currency), expected, events)
        if expected is None and events:
            self.status, self.payment_reference, self.amount_paid = PAID, reference, amount

    @rule()
    def ship(self):
        expected = None if self.status == PAID else InvalidTransitionError
        self.run(lambda o: o.ship("DHL", "TRK-1"), expected)
        if expected is None:
            self.status = SHIPPED

    @rule()
    def mark_delivered(self):
        expected = None if self.status == SHIPPED else InvalidTransitionError
        self.run(lambda o: o.mark_delivered(), expected)
        if expected is None:
            self.status = DELIVERED

    @rule(now=st.sampled_from([True, False, False]), reason=st.sampled_from(["test", "test", "other"]))
    def cancel(self, now, reason):
        if not now:
            return  # cancelling ends every sequence early; make it rarer than the rest
        events = 1
        if self.status in (PLACED, CONFIRMED, PAID):
            expected = None
        elif self.status == CANCELLED and reason == self.cancel_reason:
            expected, events = None, 0  # the same cancellation again: a no-op
        else:
            expected = InvalidTransitionError
        self.run(lambda o: o.cancel(reason), expected, events)
        if expected is None and events:
            self.refund_due = self.amount_paid if self.status == PAID else Decimal(0)
            self.status, self.cancel_reason = CANCELLED, reason

    @rule()
    def advance(self):
        """The next step of the happy path, so that sequences reach the later statuses."""
        if self.status == PLACED and not self.address_set:
            self.set_shipping_address("good")
        elif self.status == PLACED and self.lines:
            self.confirm()
        elif self.status == CONFIRMED:
            self.record_payment("pay-1", exact=True, same_currency=True)
        elif self.status == PAID:
            self.ship()
        elif self.status == SHIPPED:
            self.mark_delivered()

    # ---- invariants -----------------------------------------------------

    @invariant()
    def status_matches_the_model(self):
        assert self.order.status.value == self.status

    @invariant()
    def lines_match_the_model(self):
        actual = {sku: (ln["quantity"], ln["unit_price"]) for sku, ln in self.order.lines.items()}
        assert actual == self.lines

    @invariant()
    def total_is_the_sum_of_the_lines(self):
        assert self.order.total == self.total
        assert self.order.total == sum(
            (ln["quantity"] * ln["unit_price"] for ln in self.order.lines.values()), start=Decimal(0)
        )

    @invariant()
    def payment_and_refund_match_the_model(self):
        assert (self.order.shipping_address is not None) == self.address_set
        assert self.order.payment_reference == self.payment_reference
        assert self.order.amount_paid == self.amount_paid
        assert self.order.refund_due == self.refund_due

    @invariant()
    def nothing_is_pending(self):
        assert not self.order.pending_events

    @invariant()
    def version_counts_the_recorded_events(self):
        assert self.order.version == len(self.recorded)

    @invariant()
    def replaying_the_recorded_events_rebuilds_the_same_order(self):
        replayed = None
        for domain_event in self.recorded:
            replayed = domain_event.mutate(replayed)
        assert _state(replayed) == _state(self.order)


def _state(order: Order) -> dict:
    return {k: v for k, v in vars(order).items() if k != "_pending_events"}


OrderMachine.TestCase.settings = settings(max_examples=200, stateful_step_count=30, deadline=None)
test_order_state_machine = OrderMachine.TestCase
