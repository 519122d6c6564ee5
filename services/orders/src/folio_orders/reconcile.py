"""Do orders and payments agree? Every charge kept has a confirmed order, and the reverse.

Used by `folio reconcile` (and the crash-consistency tests) on the lists the two services
serve: orders' ListAllOrders and payment's ListPayments.
"""

from collections import Counter
from dataclasses import dataclass, field

from folio.orders.v1 import orders_pb2
from folio.payment.v1 import payment_pb2

SUCCEEDED = payment_pb2.PAYMENT_STATUS_SUCCEEDED
CONFIRMED = orders_pb2.ORDER_STATUS_CONFIRMED


@dataclass
class ReconcileReport:
    orders: int = 0
    payments: int = 0
    confirmed: int = 0
    refunded: int = 0
    pending: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        head = (
            f"{self.orders} orders ({self.confirmed} confirmed, {self.pending} pending), "
            f"{self.payments} payments ({self.refunded} refunded)"
        )
        return head + ("" if self.ok else "\n" + "\n".join(f"  PROBLEM: {p}" for p in self.problems))


def reconcile(orders: list[orders_pb2.Order], payments: list[payment_pb2.Payment]) -> ReconcileReport:
    report = ReconcileReport(orders=len(orders), payments=len(payments))
    by_reference = {p.reference: p for p in payments if p.reference}
    kept_per_order = Counter(p.reference for p in payments if p.status == SUCCEEDED)
    orders_by_id = {o.id: o for o in orders}
    for order in orders:
        kept = kept_per_order[order.id]
        if order.status == CONFIRMED:
            report.confirmed += 1
            payment = by_reference.get(order.id)
            if kept != 1 or payment is None:
                report.problems.append(
                    f"order {order.id} is confirmed with {kept} kept charges (want exactly 1)"
                )
            elif payment.id != order.payment_id or payment.amount.minor_units != order.total.minor_units:
                report.problems.append(f"order {order.id} does not match its charge {payment.id}")
        elif order.status == orders_pb2.ORDER_STATUS_PENDING:
            report.pending += 1
        elif kept:
            report.problems.append(f"order {order.id} failed but its charge was kept (not refunded)")
    for payment in payments:
        if payment.status == payment_pb2.PAYMENT_STATUS_REFUNDED:
            report.refunded += 1
        owner = orders_by_id.get(payment.reference)
        if payment.status == SUCCEEDED and (owner is None or owner.status == orders_pb2.ORDER_STATUS_FAILED):
            report.problems.append(
                f"charge {payment.id} kept without a confirmed order ({payment.reference})"
            )
    return report
