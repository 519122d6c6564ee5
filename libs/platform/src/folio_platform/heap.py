"""The Python heap once a service has started: start-up objects out of the collector's way.

A service's start leaves hundreds of thousands of objects that live as long as the process:
modules, classes, functions, pydantic and protobuf schemas, the loaded OpenAPI document. CPython's
full (oldest-generation) collection walks every one of them, so under steady traffic each service
paused for 80-250 ms once or twice a minute on the two-core development machine, and whichever
request arrived in that pause became the shop's p99. `settle_heap`, called once a service is ready
and warm, collects what start-up left behind, moves everything still alive into the permanent
generation (`gc.freeze`: never scanned again), and hands the freed pages back to the OS. Later
collections walk only the objects serving creates.
"""

import ctypes
import ctypes.util
import gc
import logging
import time

log = logging.getLogger(__name__)


def release_freed_heap() -> None:
    """Hand freed heap back to the OS: glibc keeps freed pages in its per-thread arenas otherwise."""
    libc = ctypes.util.find_library("c")
    trim = getattr(ctypes.CDLL(libc), "malloc_trim", None) if libc else None
    if trim is not None:
        trim(0)


def settle_heap() -> None:
    """Collect start-up garbage, freeze what survives, release freed pages; once, after start."""
    started = time.perf_counter()
    collected = gc.collect()
    gc.freeze()
    release_freed_heap()
    log.info(
        "heap settled",
        extra={
            "collected": collected,
            "frozen": gc.get_freeze_count(),
            "ms": round((time.perf_counter() - started) * 1000, 1),
        },
    )
