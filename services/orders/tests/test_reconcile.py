"""The reconciliation rules, on hand-built ledgers."""

from folio.common.v1 import money_pb2
from folio.orders.v1 import orders_pb2
from folio.payment.v1 import payment_pb2
from folio_orders.reconcile import reconcile

USD = money_pb2.Money(currency_code="USD", minor_units=500)


def _order(order_id: str, status: int, payment_id: str = "") -> orders_pb2.Order:
    return orders_pb2.Order(id=order_id, status=status, payment_id=payment_id, total=USD)  # type: ignore[arg-type]


def _payment(payment_id: str, reference: str, status: int) -> payment_pb2.Payment:
    return payment_pb2.Payment(id=payment_id, reference=reference, status=status, amount=USD)  # type: ignore[arg-type]


CONFIRMED, FAILED = orders_pb2.ORDER_STATUS_CONFIRMED, orders_pb2.ORDER_STATUS_FAILED
SUCCEEDED, REFUNDED, DECLINED = (
    payment_pb2.PAYMENT_STATUS_SUCCEEDED,
    payment_pb2.PAYMENT_STATUS_REFUNDED,
    payment_pb2.PAYMENT_STATUS_DECLINED,
)


def test_a_consistent_ledger_passes() -> None:
    report = reconcile(
        [_order("o1", CONFIRMED, "p1"), _order("o2", FAILED), _order("o3", FAILED)],
        [_payment("p1", "o1", SUCCEEDED), _payment("p2", "o2", DECLINED), _payment("p3", "o3", REFUNDED)],
    )
    assert report.ok, report.summary()
    assert (report.confirmed, report.refunded) == (1, 1)


def test_a_confirmed_order_without_a_charge_is_reported() -> None:
    report = reconcile([_order("o1", CONFIRMED, "p1")], [])
    assert not report.ok
    assert "o1" in report.summary()


def test_a_kept_charge_without_a_confirmed_order_is_reported() -> None:
    assert not reconcile([_order("o1", FAILED)], [_payment("p1", "o1", SUCCEEDED)]).ok
    assert not reconcile([], [_payment("p1", "o-missing", SUCCEEDED)]).ok


def test_a_mismatched_amount_is_reported() -> None:
    payment = _payment("p1", "o1", SUCCEEDED)
    payment.amount.minor_units = 499
    assert not reconcile([_order("o1", CONFIRMED, "p1")], [payment]).ok
