"""Do orders and payments agree? Every charge kept has a confirmed order, and the reverse.

Works on the lists the two services serve (orders' ListAllOrders, payment's ListPayments);
`folio reconcile` and the crash-consistency tests call it. A payment belongs to the order
named by its `reference` (the saga charges with reference = order id).
"""

from collections import defaultdict
from dataclasses import dataclass, field

from folio.common.v1 import money_pb2
from folio.orders.v1 import orders_pb2
from folio.payment.v1 import payment_pb2

SUCCEEDED = payment_pb2.PAYMENT_STATUS_SUCCEEDED
REFUNDED = payment_pb2.PAYMENT_STATUS_REFUNDED
PENDING = orders_pb2.ORDER_STATUS_PENDING
CONFIRMED = orders_pb2.ORDER_STATUS_CONFIRMED
FAILED = orders_pb2.ORDER_STATUS_FAILED


@dataclass
class ReconcileReport:
    """Counts, and one readable line per disagreement (none when the ledgers agree)."""

    orders: int = 0
    payments: int = 0
    confirmed: int = 0
    failed: int = 0
    pending: int = 0
    kept: int = 0
    refunded: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        head = (
            f"{self.orders} orders ({self.confirmed} confirmed, {self.failed} failed, {self.pending} pending), "
            f"{self.payments} payments ({self.kept} kept, {self.refunded} refunded)"
        )
        if self.ok:
            return head + ": orders and payments agree"
        return head + "\n" + "\n".join(f"  PROBLEM: {p}" for p in self.problems)


def _money(amount: money_pb2.Money) -> str:
    return f"{amount.minor_units / 100:.2f} {amount.currency_code}"


def reconcile(orders: list[orders_pb2.Order], payments: list[payment_pb2.Payment]) -> ReconcileReport:
    """Check the ledgers against each other.

    Every SUCCEEDED (kept) payment has a CONFIRMED order; every CONFIRMED order has exactly one
    kept payment, the one it records, of its total; no FAILED order kept its charge.
    """
    report = ReconcileReport(orders=len(orders), payments=len(payments))
    by_id = {order.id: order for order in orders}
    kept: dict[str, list[payment_pb2.Payment]] = defaultdict(list)
    refunded: dict[str, list[payment_pb2.Payment]] = defaultdict(list)
    for payment in payments:
        if payment.status == REFUNDED:
            report.refunded += 1
            refunded[payment.reference].append(payment)
        if payment.status != SUCCEEDED:
            continue
        report.kept += 1
        kept[payment.reference].append(payment)
        owner = by_id.get(payment.reference)
        if owner is None:
            report.problems.append(
                f"charge {payment.id} of {_money(payment.amount)} was kept, "
                f"but there is no order {payment.reference!r}"
            )
        elif owner.status == FAILED:
            report.problems.append(
                f"order {owner.id} failed but its charge {payment.id} of {_money(payment.amount)} "
                "was kept (not refunded)"
            )
        elif owner.status != CONFIRMED:
            report.problems.append(
                f"charge {payment.id} of {_money(payment.amount)} was kept, but order {owner.id} "
                "is not confirmed (still pending: recovery has not finished it)"
            )
    for order in orders:
        if order.status == PENDING:
            report.pending += 1
        elif order.status == FAILED:
            report.failed += 1
        if order.status != CONFIRMED:
            continue
        report.confirmed += 1
        charges = kept.get(order.id, [])
        if not charges:
            given_back = refunded.get(order.id, [])
            why = f" (its charge {given_back[0].id} was refunded)" if given_back else ""
            report.problems.append(f"order {order.id} is confirmed but no charge for it was kept{why}")
            continue
        if len(charges) > 1:
            ids = ", ".join(p.id for p in charges)
            report.problems.append(
                f"order {order.id} is confirmed with {len(charges)} kept charges ({ids}); want exactly one"
            )
            continue
        [charge] = charges
        if charge.id != order.payment_id:
            report.problems.append(
                f"order {order.id} records payment {order.payment_id!r} but was charged by {charge.id}"
            )
        if (charge.amount.minor_units, charge.amount.currency_code) != (
            order.total.minor_units,
            order.total.currency_code,
        ):
            report.problems.append(
                f"order {order.id} totals {_money(order.total)} but its charge {charge.id} "
                f"took {_money(charge.amount)}"
            )
    return report
