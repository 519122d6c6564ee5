"""`make bench-assistant`: the assistant's ingestion and retrieval (everything before the LLM) at 10,000
books (`BOOKS=100000` for more) on the embedded backends (FalkorDB embedded, Qdrant local mode, MiniLM on
onnxruntime).

Builds a catalog of the seed plus synthetic books (as `folio seed --synthetic` does), ingests it with
the real ingestion over a real catalog gRPC server (kept in bench-results/ and reused next time) and
prints books per second. Then, in a fresh process holding only what the assistant holds (both stores
open, names and the lexical index loaded), asks every evaluation question several times and prints
p50/p95 latency, the sequential backend round trips per answer and the memory of that process and of
the graph's server. Targets: ingestion >= 200 books/s, p95 <= 50 ms, <= 3 round trips. The load average
is printed beside each figure: on a shared machine it moves them more than most changes do.
Writes bench-results/assistant.json.
"""

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import psutil

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


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def _graph_server(data_dir: Path) -> psutil.Process | None:
    """The embedded graph's redis-server (it daemonizes: not a child), found by its working directory."""
    directory = str((data_dir / "assistant" / "graph").resolve())
    for process in psutil.process_iter(["name", "cwd"]):
        if process.info["cwd"] == directory and "redis" in (process.info["name"] or ""):
            return process
    return None


def _cpu_s(*processes: psutil.Process | None) -> float:
    return sum(sum(p.cpu_times()[:2]) for p in processes if p is not None)


def _memory_mib(data_dir: Path) -> dict[str, int]:
    """Resident memory of this process (now and at its peak) and of the graph's server."""
    me = psutil.Process()
    status = Path("/proc/self/status").read_text().splitlines()
    peak_kib = next(int(line.split()[1]) for line in status if line.startswith("VmHWM"))
    graph = _graph_server(data_dir)
    return {
        "rss": me.memory_info().rss >> 20,
        "peak_rss": peak_kib >> 10,
        "graph_server_rss": (graph.memory_info().rss >> 20) if graph else -1,
    }


def measure_in_fresh_process(data_dir: Path, *, rounds: int) -> dict[str, object]:
    """`measure` in a new process, so its memory is the assistant's alone (no catalog, no ingestion)."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(_measure_sync, data_dir, rounds).result()


def _measure_sync(data_dir: Path, rounds: int) -> dict[str, object]:
    return asyncio.run(measure(data_dir, rounds=rounds))


async def measure(data_dir: Path, *, rounds: int) -> dict[str, object]:
    vectors = VectorIndex.open(url=None, path=data_dir / "assistant" / "qdrant")
    graph = await asyncio.to_thread(
        open_graph, url=None, directory=data_dir / "assistant" / "graph", user="", password=None
    )
    retriever = Retriever(embedder=Embedder(), vectors=vectors, graph=graph)
    try:
        started = time.perf_counter()
        await retriever.refresh_names()
        books = await vectors.count()
        loaded_s = time.perf_counter() - started
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
            "load_average": _load(),
            "open_and_load_s": round(loaded_s, 1),
            "memory_mib": _memory_mib(data_dir),
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
    parser.add_argument(
        "--threads",
        type=int,
        default=2,
        help="texts embedded at once while ingesting, each on a core (FOLIO_ASSISTANT_EMBEDDING_THREADS)",
    )
    parser.add_argument("--out", type=Path, default=Path("bench-results"))
    args = parser.parse_args()
    data_dir = args.out / f"assistant-{args.books}"
    print(
        f"catalog and index of {args.books} books in {data_dir} (reused when already built); load average {_load()}"
    )
    me = psutil.Process()
    progress, took, cpu = asyncio.run(
        build_index(
            data_dir,
            synthetic=max(0, args.books - SEED_BOOKS),
            threads=args.threads,
            cpu_clock=lambda: _cpu_s(me, _graph_server(data_dir)),
        )
    )
    if progress.phase != "done":
        raise SystemExit(f"ingestion failed: {progress.note}")
    print(
        f"ingestion: {progress.indexed} books embedded and indexed, {progress.catalog_books - progress.to_index} unchanged, {took:.1f} s; load average {_load()}"
    )
    if progress.indexed:
        print(
            f"  {progress.indexed / took:.0f} books/s with {args.threads} texts embedded at once (target >= 200); CPU {cpu:.1f} s, {cpu / progress.indexed * 1000:.1f} ms a book"
            " (this process, its catalog server included, and the graph server): the steadier figure on a busy machine"
        )
    result = measure_in_fresh_process(data_dir, rounds=args.rounds)
    result["ingest"] = {
        "indexed": progress.indexed,
        "seconds": round(took, 1),
        "books_per_s": round(progress.indexed / took, 1) if progress.indexed else None,
        "cpu_seconds": round(cpu, 1),
        "threads": args.threads,
    }
    r, t, m = result["retrieval_ms"], result["round_trips"], result["memory_mib"]
    print(
        f"retrieval without LLM over {result['books']} books, {result['answers']} answers (load average {result['load_average']}):"
    )
    print(f"  p50 {r['p50']} ms  p95 {r['p95']} ms  p99 {r['p99']} ms   (target p95 <= 50 ms)")  # type: ignore[index]
    print(f"  of which embedding the question: {result['of_which_embedding_ms']}")
    print(f"  sequential backend round trips per answer: max {t['max']}, mean {t['mean']}   (target <= 3)")  # type: ignore[index]
    print(f"similar books: {result['similar_books_ms']}")
    print(
        f"assistant memory: {m['rss']} MiB resident ({m['peak_rss']} MiB at peak), graph server {m['graph_server_rss']} MiB;"  # type: ignore[index]
        f" stores opened and names and lexical index loaded in {result['open_and_load_s']} s"
    )
    args.out.mkdir(exist_ok=True)
    (args.out / "assistant.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
