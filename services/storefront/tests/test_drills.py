from folio_platform.config import Flags, LiveSettings, StorefrontDrills
from folio_storefront.drills import MemoryLeakDrill


def _settings(kb: int, cap_mb: int = 512) -> LiveSettings:
    return LiveSettings(
        flags=Flags(storefront=StorefrontDrills(memory_leak_kb_per_request=kb, memory_leak_max_mb=cap_mb))
    )


async def _app(scope: object, receive: object, send: object) -> None:
    return None


def test_each_request_keeps_memory_up_to_the_cap_and_clearing_lets_it_go() -> None:
    drill = MemoryLeakDrill(_app)
    for _ in range(5):
        drill.step(_settings(kb=1024, cap_mb=3))
    assert drill.leaked_bytes == 3 * 1024 * 1024  # three requests' worth, then the cap
    assert all(chunk.count(1) == len(chunk) for chunk in drill.leaked)  # touched, so it counts in RSS

    drill.step(_settings(kb=0))
    assert drill.leaked == []
    assert drill.leaked_bytes == 0


def test_without_the_flag_nothing_is_kept() -> None:
    drill = MemoryLeakDrill(_app)
    drill.step(LiveSettings())
    assert drill.leaked_bytes == 0
