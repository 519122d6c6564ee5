"""Who may call PaymentService, with real tokens from a real issuer: only orders moves money, and the
whole ledger is read by support staff and orders' reconciliation, not by a catalog admin."""

import pytest

from folio_payment.servicer import ACCESS
from folio_platform.auth import TokenVerifier
from folio_testing.issuer import TestIssuer

LEDGER = "/folio.payment.v1.PaymentService/ListPayments"
MONEY = ("Charge", "Refund", "GetPayment")


@pytest.mark.parametrize(
    ("who", "reads_the_ledger", "moves_money"),
    [
        ("orders", True, True),
        ("support", True, False),
        ("catalog-admin", False, False),
        ("customer", False, False),
        ("storefront", False, False),
        ("dressed as orders", False, False),
    ],
)
async def test_the_ledger_is_for_support_and_orders_and_money_moves_only_for_orders(
    issuer: TestIssuer, who: str, reads_the_ledger: bool, moves_money: bool
) -> None:
    token = {
        "orders": issuer.service_token("folio-orders"),
        "support": issuer.token("dave-id", username="dave", roles=("support",)),
        "catalog-admin": issuer.token("carol-id", username="carol", roles=("customer", "catalog-admin")),
        "customer": issuer.token("alice-id"),
        "storefront": issuer.service_token("folio-storefront"),
        "dressed as orders": issuer.token(
            "mallory-id", username="service-account-folio-orders", client_id="folio-orders", roles=()
        ),
    }[who]
    verifier = TokenVerifier(issuer=issuer.url, audience="folio")
    caller = await verifier.verify(token)
    await verifier.close()

    assert ACCESS[LEDGER].allows(caller) is reads_the_ledger
    for method in MONEY:
        assert ACCESS[f"/folio.payment.v1.PaymentService/{method}"].allows(caller) is moves_money, method
