"""The reconciliation rules, on hand-built ledgers."""

from folio.common.v1 import money_pb2
from folio.orders.v1 import orders_pb2
from folio.payment.v1 import payment_pb2
from folio_orders.reconcile import reconcile

CONFIRMED, FAILED, PENDING = (
    orders_pb2.ORDER_STATUS_CONFIRMED,
    orders_pb2.ORDER_STATUS_FAILED,
    orders_pb2.ORDER_STATUS_PENDING,
)
SUCCEEDED, REFUNDED, DECLINED = (
    payment_pb2.PAYMENT_STATUS_SUCCEEDED,
    payment_pb2.PAYMENT_STATUS_REFUNDED,
    payment_pb2.PAYMENT_STATUS_DECLINED,
)


def _money(minor: int = 500, currency: str = "USD") -> money_pb2.Money:
    return money_pb2.Money(currency_code=currency, minor_units=minor)


def _order(order_id: str, status: int, payment_id: str = "", total: int = 500) -> orders_pb2.Order:
    return orders_pb2.Order(id=order_id, status=status, payment_id=payment_id, total=_money(total))  # type: ignore[arg-type]


def _payment(
    payment_id: str, reference: str, status: int, amount: money_pb2.Money | None = None
) -> payment_pb2.Payment:
    return payment_pb2.Payment(
        id=payment_id,
        reference=reference,
        status=status,  # type: ignore[arg-type]
        amount=amount or _money(),
    )


def test_consistent_ledgers_pass_and_are_counted() -> None:
    report = reconcile(
        [
            _order("o1", CONFIRMED, "p1"),
            _order("o2", FAILED),
            _order("o3", FAILED, "p3"),
            _order("o4", FAILED),
        ],
        [_payment("p1", "o1", SUCCEEDED), _payment("p2", "o2", DECLINED), _payment("p3", "o3", REFUNDED)],
    )

    assert report.ok, report.summary()
    assert (report.orders, report.confirmed, report.failed, report.pending) == (4, 1, 3, 0)
    assert (report.payments, report.kept, report.refunded) == (3, 1, 1)
    assert report.summary() == (
        "4 orders (1 confirmed, 3 failed, 0 pending), 3 payments (1 kept, 1 refunded): "
        "orders and payments agree"
    )


def test_a_confirmed_order_without_a_kept_charge_is_reported() -> None:
    assert reconcile([_order("o1", CONFIRMED, "p1")], []).problems == [
        "order o1 is confirmed but no charge for it was kept"
    ]
    refunded = reconcile([_order("o1", CONFIRMED, "p1")], [_payment("p1", "o1", REFUNDED)])
    assert refunded.problems == [
        "order o1 is confirmed but no charge for it was kept (its charge p1 was refunded)"
    ]


def test_a_confirmed_order_charged_twice_is_reported() -> None:
    report = reconcile(
        [_order("o1", CONFIRMED, "p1")], [_payment("p1", "o1", SUCCEEDED), _payment("p2", "o1", SUCCEEDED)]
    )
    assert report.problems == ["order o1 is confirmed with 2 kept charges (p1, p2); want exactly one"]


def test_a_confirmed_order_must_match_its_charge_id_and_amount() -> None:
    wrong_id = reconcile([_order("o1", CONFIRMED, "p9")], [_payment("p1", "o1", SUCCEEDED)])
    assert wrong_id.problems == ["order o1 records payment 'p9' but was charged by p1"]

    short = reconcile([_order("o1", CONFIRMED, "p1")], [_payment("p1", "o1", SUCCEEDED, _money(499))])
    assert short.problems == ["order o1 totals 5.00 USD but its charge p1 took 4.99 USD"]

    currency = reconcile(
        [_order("o1", CONFIRMED, "p1")], [_payment("p1", "o1", SUCCEEDED, _money(500, "EUR"))]
    )
    assert currency.problems == ["order o1 totals 5.00 USD but its charge p1 took 5.00 EUR"]


def test_a_kept_charge_needs_a_confirmed_order() -> None:
    orphan = reconcile([], [_payment("p1", "o-missing", SUCCEEDED)])
    assert orphan.problems == ["charge p1 of 5.00 USD was kept, but there is no order 'o-missing'"]

    failed = reconcile([_order("o1", FAILED)], [_payment("p1", "o1", SUCCEEDED)])
    assert failed.problems == ["order o1 failed but its charge p1 of 5.00 USD was kept (not refunded)"]

    pending = reconcile([_order("o1", PENDING)], [_payment("p1", "o1", SUCCEEDED)])
    assert pending.problems == [
        "charge p1 of 5.00 USD was kept, but order o1 is not confirmed (still pending: recovery has not finished it)"
    ]
    assert pending.pending == 1


def test_a_pending_order_without_a_charge_is_counted_not_reported() -> None:
    report = reconcile([_order("o1", PENDING)], [])
    assert report.ok
    assert report.pending == 1


def test_the_summary_lists_every_problem_on_its_own_line() -> None:
    report = reconcile(
        [_order("o1", CONFIRMED, "p1"), _order("o2", FAILED)], [_payment("p2", "o2", SUCCEEDED)]
    )

    lines = report.summary().splitlines()
    assert lines[0] == "2 orders (1 confirmed, 1 failed, 0 pending), 1 payments (1 kept, 0 refunded)"
    assert lines[1:] == [
        "  PROBLEM: order o2 failed but its charge p2 of 5.00 USD was kept (not refunded)",
        "  PROBLEM: order o1 is confirmed but no charge for it was kept",
    ]
