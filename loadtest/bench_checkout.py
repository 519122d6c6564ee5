"""`make bench-checkout`: checkout latency at a steady arrival rate on the embedded stack.

Open loop: a new shopper arrives every 1/rate seconds whatever the shop's speed, adds a book
to the cart and checks out (POST /api/v1/orders: cart -> catalog stock -> payment -> order).
Prints p50/p95/p99 of the checkout call, errors, and the reconciliation result afterwards.
"""

import argparse
import asyncio
import json
import random
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from typer.testing import CliRunner

from folio_cli.launcher import Stack, free_port
from folio_cli.main import app as folio
from folio_cli.services import SERVICES
from folio_testing.data import checkout
from loadtest.httpload import percentile

CHECKOUT = checkout(email="bench@example.org")


async def shopper(base_url: str, book_id: str, latencies: list[float], statuses: list[int]) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        await client.post("/api/v1/cart/items", json={"book_id": book_id})
        started = time.perf_counter()
        response = await client.post(
            "/api/v1/orders", json=CHECKOUT, headers={"Idempotency-Key": uuid.uuid4().hex}
        )
        latencies.append((time.perf_counter() - started) * 1000)
        statuses.append(response.status_code)


async def drive(
    base_url: str, books: list[str], rate: float, seconds: float
) -> tuple[list[float], list[int], float]:
    latencies: list[float] = []
    statuses: list[int] = []
    tasks = []
    rng = random.Random(7)
    started = time.perf_counter()
    for n in range(int(rate * seconds)):
        # Arrivals on a fixed schedule: a slow shop does not slow the arrivals down.
        await asyncio.sleep(max(0.0, started + n / rate - time.perf_counter()))
        tasks.append(asyncio.create_task(shopper(base_url, rng.choice(books), latencies, statuses)))
    await asyncio.gather(*tasks)
    return latencies, statuses, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=10.0, help="checkouts per second")
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, open(Path(tmp) / "stack.log", "w") as log:
        stack = Stack(data_dir=Path(tmp) / "data", ports={s.name: free_port() for s in SERVICES}, output=log)
        stack.up()
        try:
            base_url = stack.url("storefront")
            with httpx.Client(base_url=base_url) as client:
                page = client.get("/api/v1/books", params={"page_size": 100}).json()
            books = [b["id"] for b in page["items"] if b["stock"] >= 20]
            latencies, statuses, took = asyncio.run(drive(base_url, books, args.rate, args.seconds))
            ports = [f"--port={name}={port}" for name, port in stack.ports.items()]
            reconciled = CliRunner().invoke(
                folio, ["reconcile", *ports, "--data-dir", str(Path(tmp) / "data")]
            )
        finally:
            stack.down()

    ordered = sorted(latencies)

    def pct(q: float) -> float:
        return percentile(ordered, q)

    placed = statuses.count(201)
    print(f"\ncheckout at {args.rate:g}/s for {args.seconds:g} s (open loop, one new shopper per arrival)")
    print(
        f"  placed {placed} of {len(statuses)}; other answers: {sorted(s for s in statuses if s != 201)[:10]}"
    )
    print(f"  achieved {len(statuses) / took:.1f} checkouts/s")
    print(
        f"  checkout latency ms: p50 {pct(50):.1f}  p95 {pct(95):.1f}  p99 {pct(99):.1f}  "
        f"max {ordered[-1]:.1f}  mean {statistics.mean(ordered):.1f}"
    )
    print(f"  reconcile: {reconciled.output.strip()}")
    out = Path("bench-results")
    out.mkdir(exist_ok=True)
    (out / "checkout.json").write_text(
        json.dumps(
            {
                "rate": args.rate,
                "seconds": args.seconds,
                "placed": placed,
                "total": len(statuses),
                "p50_ms": round(pct(50), 2),
                "p95_ms": round(pct(95), 2),
                "p99_ms": round(pct(99), 2),
                "reconciled": reconciled.exit_code == 0,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
