"""Settling the heap once a service is warm: what start-up left alive leaves every later
collection's walk, while what serving creates is still collected."""

import json
import subprocess
import sys

# Run in a process of its own: freezing pytest's heap would pin every other test's objects.
SETTLED_PROCESS = """
import gc, json
from folio_platform.heap import settle_heap

class Node:
    pass

class Loaded:
    pass

kept = [Loaded() for _ in range(50_000)]  # start-up objects, alive for good
start_up_cycle = Node(); start_up_cycle.me = start_up_cycle
del start_up_cycle  # start-up garbage: collected by the settling, not frozen
settle_heap()
walked = {id(o) for o in gc.get_objects()}
serving_cycle = Node(); serving_cycle.me = serving_cycle
del serving_cycle  # garbage made while serving
print(json.dumps({
    "frozen": gc.get_freeze_count(),
    "kept_walked": sum(id(o) in walked for o in kept),
    "collected_later": gc.collect(),
    "nodes_frozen": sum(type(o).__name__ == "Node" for o in gc.get_objects()),
}))
"""


def _settled() -> dict[str, int]:
    done = subprocess.run(
        [sys.executable, "-c", SETTLED_PROCESS], capture_output=True, text=True, timeout=60, check=True
    )
    return json.loads(done.stdout)


def test_objects_alive_when_settled_leave_the_collectors_walk_and_later_garbage_is_collected() -> None:
    settled = _settled()
    assert settled["frozen"] >= 50_000
    assert settled["kept_walked"] == 0  # no later collection walks them
    assert settled["collected_later"] >= 2  # the cycle made after settling, and its __dict__
    assert settled["nodes_frozen"] == 0  # the start-up cycle was collected, not frozen
