"""Failure drills on the running shop: kill a service under steady traffic and restart it.

Shoppers keep what does not depend on the victim, get a clear 503 naming it for what does, and
everything answers again once it is back. (Killing payment and orders mid-checkout, with
reconciliation afterwards, is tests/test_crash_consistency.py.)
"""

import pytest

from folio_cli.drills import kill_and_restart

from .conftest import RunningStack

pytestmark = [pytest.mark.e2e, pytest.mark.own_stack]


@pytest.mark.parametrize("victim", ["catalog", "cart", "dev-oidc"])
def test_killing_a_service_hurts_only_what_needs_it_and_it_recovers(shop: RunningStack, victim: str) -> None:
    result = kill_and_restart(shop.stack, victim, down_seconds=2.0)
    print(result.summary())
    assert result.problems == [], result.summary()
    during = {(probe, outcome) for (phase, probe, outcome) in result.answers if phase == "during"}
    if victim in ("catalog", "cart"):
        # The outage was seen, and named, by a probe that needs the victim.
        assert any(outcome == f"503 {victim}" for _, outcome in during), result.summary()
    assert ("liveness", "200") in during
