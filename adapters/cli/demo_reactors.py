"""What the reactors must have done in the demo's day, worked out from the orders and the mail files.

Nothing here reads the reactors' tables or their effects outbox: stock is
computed from the orders' lines and the restocks, payments and
cancellations from the orders, mails from the ``.eml`` files, so that the
demo can hold the reactors' work up against them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesHeaderParser, BytesParser
from pathlib import Path

from domain.order import OrderStatus
from domain.views import OrderView

OUT_OF_STOCK = "out of stock: "  # the inventory reactor's reason, then the SKU
DECLINED = "payment declined: "  # the payment reactor's reason, then the gateway's
SHIPPED = (OrderStatus.SHIPPED, OrderStatus.DELIVERED)


@dataclass(frozen=True)
class StockFromOrders:
    """One SKU's stock as the orders say it must be once the reactors have handled them."""

    sku: str
    restocked: int
    shipped: int  # units in the orders shipped or delivered
    reserved: int  # units in the orders neither cancelled nor shipped
    short: int  # orders cancelled because this SKU was out of stock

    @property
    def on_hand(self) -> int:
        return self.restocked - self.shipped

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


def stock_from_orders(views: Iterable[OrderView], restocked: Mapping[str, int]) -> list[StockFromOrders]:
    """Per SKU restocked (in SKU order): what shipping took and what the open orders hold."""
    shipped: Counter[str] = Counter()
    reserved: Counter[str] = Counter()
    short: Counter[str] = Counter()
    for view in views:
        if view.status is OrderStatus.CANCELLED:
            reason = view.cancel_reason or ""
            if reason.startswith(OUT_OF_STOCK):
                short[reason.removeprefix(OUT_OF_STOCK)] += 1
            continue
        held = shipped if view.status in SHIPPED else reserved
        for line in view.lines:
            held[line.sku] += line.quantity
    return [
        StockFromOrders(sku, restocked[sku], shipped[sku], reserved[sku], short[sku]) for sku in sorted(restocked)
    ]


@dataclass(frozen=True)
class OrderOutcomes:
    """What the orders say the reactors did to them."""

    out_of_stock: list[str]  # the cancel reasons of the orders cancelled for lack of stock, in order
    declined: list[str]  # the cancel reasons of the orders whose payment was declined, in order
    paid: int  # orders with a payment recorded (paid, shipped, delivered, or cancelled and refunded)
    refunded: int  # of those, the cancelled ones
    mails: int  # mails the notification reactor must have written: placements, shipments, cancellations


def order_outcomes(views: Sequence[OrderView]) -> OrderOutcomes:
    """What the reactors did to ``views``, every one placed after the reactors started."""
    reasons = [v.cancel_reason or "" for v in views if v.status is OrderStatus.CANCELLED]
    shipped = sum(1 for v in views if v.status in SHIPPED)
    return OrderOutcomes(
        out_of_stock=[r for r in reasons if r.startswith(OUT_OF_STOCK)],
        declined=[r for r in reasons if r.startswith(DECLINED)],
        paid=sum(1 for v in views if v.payment_reference is not None),
        refunded=sum(1 for v in views if v.payment_reference is not None and v.status is OrderStatus.CANCELLED),
        mails=len(views) + shipped + len(reasons),
    )


@dataclass(frozen=True)
class MailFile:
    path: Path
    message_id: str
    subject: str


def mail_files(directory: Path) -> list[MailFile]:
    """The mails written under ``directory``, by file name (headers only)."""
    parser = BytesHeaderParser(policy=policy.default)
    mails = []
    for path in sorted(directory.glob("*.eml")):
        with path.open("rb") as file:
            headers = parser.parse(file)
        mails.append(MailFile(path, str(headers.get("Message-ID", "")), str(headers.get("Subject", ""))))
    return mails


def read_mail(path: Path) -> tuple[str, list[str]]:
    """The subject of the mail in ``path`` and the lines of its plain-text body."""
    with path.open("rb") as file:
        message = BytesParser(policy=policy.default).parse(file)
    assert isinstance(message, EmailMessage)  # policy.default parses into EmailMessage
    body = message.get_body(preferencelist=("plain",))
    text = body.get_content() if body is not None else ""
    return str(message.get("Subject", "")), str(text).splitlines()
