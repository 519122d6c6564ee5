"""`make bench-assistant`: the assistant's retrieval (everything before the LLM) at 10,000 books on the
embedded backends (FalkorDB embedded, Qdrant local mode, MiniLM on onnxruntime).

Builds a catalog of the seed plus synthetic books (as `folio seed --synthetic` does), ingests it with
the real ingestion over a real catalog gRPC server (kept in bench-results/ and reused next time), then
asks every evaluation question several times and prints p50/p95 latency and the sequential backend
round trips per answer. Targets: p95 <= 50 ms, <= 3 round trips. Writes bench-results/assistant.json.
"""

import argparse
import asyncio
import json
import statistics
import time
from pathlib import Path

from folio_assistant.embeddings import Embedder
from folio_assistant.evaluation import load_questions
from folio_assistant.graph import open_graph
from folio_assistant.retrieval import Retriever
from folio_assistant.vectors import VectorIndex
from folio_testing.assistant_index import build_index

SEED_BOOKS = 1109


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def measure(data_dir: Path, *, rounds: int) -> dict[str, object]:
    vectors = VectorIndex.open(url=None, path=data_dir / "assistant" / "qdrant")
    graph = await asyncio.to_thread(
        open_graph, url=None, directory=data_dir / "assistant" / "graph", user="", password=None
    )
    retriever = Retriever(embedder=Embedder(), vectors=vectors, graph=graph)
    try:
        await retriever.refresh_names()
        books = await vectors.count()
        questions = [q.question for q in load_questions()]
        for question in questions[:10]:  # warm-up: first calls load caches
            await retriever.retrieve(question)
        latencies, trips = [], []
        for _ in range(rounds):
            for question in questions:
                started = time.perf_counter()
                retrieval = await retriever.retrieve(question)
                latencies.append((time.perf_counter() - started) * 1000)
                trips.append(retrieval.round_trips)
        similar = []
        for book_id in ("moby-dick", "dracula", "emma", "frankenstein", "iliad") * rounds:
            started = time.perf_counter()
            await retriever.similar(book_id, limit=6)
            similar.append((time.perf_counter() - started) * 1000)
        embed = []
        for question in questions:
            started = time.perf_counter()
            await retriever.embed(question)
            embed.append((time.perf_counter() - started) * 1000)
        return {
            "books": books,
            "answers": len(latencies),
            "retrieval_ms": {
                "p50": round(statistics.median(latencies), 2),
                "p95": round(_percentile(latencies, 0.95), 2),
                "p99": round(_percentile(latencies, 0.99), 2),
            },
            "of_which_embedding_ms": {
                "p50": round(statistics.median(embed), 2),
                "p95": round(_percentile(embed, 0.95), 2),
            },
            "round_trips": {"max": max(trips), "mean": round(statistics.mean(trips), 2)},
            "similar_books_ms": {
                "p50": round(statistics.median(similar), 2),
                "p95": round(_percentile(similar, 0.95), 2),
            },
        }
    finally:
        await vectors.close()
        await graph.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--books", type=int, default=10_000, help="catalog size (seed + synthetic)")
    parser.add_argument("--rounds", type=int, default=5, help="times each evaluation question is asked")
    parser.add_argument("--threads", type=int, default=1, help="onnxruntime threads for ingestion")
    parser.add_argument("--out", type=Path, default=Path("bench-results"))
    args = parser.parse_args()
    data_dir = args.out / f"assistant-{args.books}"
    print(f"catalog and index of {args.books} books in {data_dir} (reused when already built)")
    progress, took = asyncio.run(
        build_index(data_dir, synthetic=max(0, args.books - SEED_BOOKS), threads=args.threads)
    )
    if progress.phase != "done":
        raise SystemExit(f"ingestion failed: {progress.note}")
    rate = f" ({progress.indexed / took:.0f} books/s)" if progress.indexed else ""
    print(
        f"ingestion: {progress.indexed} books embedded and indexed, {progress.catalog_books - progress.to_index} unchanged, {took:.1f} s{rate}"
    )
    result = asyncio.run(measure(data_dir, rounds=args.rounds))
    result["ingest"] = {"indexed": progress.indexed, "seconds": round(took, 1)}
    r, t = result["retrieval_ms"], result["round_trips"]
    print(f"retrieval without LLM over {result['books']} books, {result['answers']} answers:")
    print(f"  p50 {r['p50']} ms  p95 {r['p95']} ms  p99 {r['p99']} ms   (target p95 <= 50 ms)")  # type: ignore[index]
    print(f"  of which embedding the question: {result['of_which_embedding_ms']}")
    print(f"  sequential backend round trips per answer: max {t['max']}, mean {t['mean']}   (target <= 3)")  # type: ignore[index]
    print(f"similar books: {result['similar_books_ms']}")
    args.out.mkdir(exist_ok=True)
    (args.out / "assistant.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
