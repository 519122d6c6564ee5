"""py-spy profiles of the services under load, read back as a CPU budget per hop.

`make bench-catalog PROFILE=1` records the storefront and the catalog with py-spy (sampling at
100 Hz, Python frames only, idle threads left out) during the measured window, then charges each
sample to the hop of the innermost frame that belongs to one (edge HTTP + JSON, gRPC client,
interceptors, server dispatch, token verification, SQL, serialisation), and lists the functions
that hold the CPU. Time spent in C (gRPC's core, SQLite, uvloop) is charged to the Python frame
that called it.
"""

import re
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path


def _under(*paths: str) -> re.Pattern[str]:
    """Frames whose file is under one of `paths` (py-spy names files relative to sys.path)."""
    return re.compile(r"\((?:[^()]*/)?(?:" + "|".join(re.escape(p) for p in paths) + ")")


# Innermost match wins: a pydantic call made by FastAPI's routing is serialisation, not the edge.
# The loop's own frames come last: a C callback (gRPC's core, uvloop) shows as the loop frame that ran it.
HOPS: list[tuple[str, re.Pattern[str]]] = [
    ("token verification", _under("folio_platform/auth.py", "jwt/", "cryptography/")),
    ("SQL", _under("sqlalchemy/", "sqlite3/", "folio_platform/database.py", "folio_catalog/books.py", "folio_catalog/search.py")),
    ("serialisation", _under("pydantic", "fastapi/encoders.py", "json/", "google/protobuf/", "folio_storefront/schemas.py", "folio_catalog/servicer.py")),
    ("telemetry", _under("opentelemetry/", "prometheus_client/", "fastapi/telemetry/")),
    ("interceptors", _under("folio_platform/grpc_server.py", "folio_platform/grpc_client.py", "folio_platform/deadlines.py", "folio_platform/text.py", "folio_catalog/drills.py", "grpc/aio/_interceptor.py", "_weakrefset.py")),
    ("gRPC client", _under("grpc/aio/_call.py", "grpc/aio/_channel.py", "folio_platform/registry.py", "folio_storefront/backends.py", "folio_storefront/catalog_client.py")),
    ("server dispatch", _under("grpc/aio/_server.py", "grpc/_server.py", "grpc/__init__.py", "grpc/_utilities.py", "grpc/_common.py")),
    ("edge HTTP + JSON", _under("uvicorn/", "starlette/", "fastapi/", "httptools/", "h11/", "folio_storefront/")),
    ("event loop and gRPC core (C)", _under("asyncio/", "uvloop/", "selectors.py", "concurrent/futures/", "threading.py")),
]  # fmt: skip
FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?):(?P<line>\d+)\)$")


@dataclass
class Profile:
    """One process's samples: per hop, and per innermost function."""

    samples: int
    hops: Counter[str]
    functions: Counter[str]

    def hop_shares(self) -> dict[str, float]:
        return {hop: count / max(1, self.samples) for hop, count in self.hops.most_common()}

    def top(self, n: int = 10) -> list[tuple[str, float]]:
        return [(name, count / max(1, self.samples)) for name, count in self.functions.most_common(n)]


def _short(frame: str) -> str:
    match = FRAME.match(frame.strip())
    if match is None:
        return frame.strip()
    path = match["file"]
    for marker in ("site-packages/", "/src/", "/lib/python3.12/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{match['function']} ({path})"


def hop_of(stack: list[str]) -> str:
    for frame in reversed(stack):
        for hop, pattern in HOPS:
            if pattern.search(frame):
                return hop
    return "other"


def read(raw: Path) -> Profile:
    """A py-spy `--format raw` file (collapsed stacks: root;...;leaf count)."""
    hops: Counter[str] = Counter()
    functions: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack_text, _, count_text = line.rpartition(" ")
        if not stack_text or not count_text.isdigit():
            continue
        count = int(count_text)
        stack = stack_text.split(";")
        total += count
        hops[hop_of(stack)] += count
        functions[_short(stack[-1])] += count
    return Profile(total, hops, functions)


def start_recording(pid: int, out: Path, seconds: float, rate: int = 100) -> subprocess.Popen[bytes]:
    """py-spy recording `pid` for `seconds` into `out` (raw collapsed stacks)."""
    py_spy = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if py_spy is None:
        raise SystemExit("py-spy is not installed: it is in the dev group (make install)")
    return subprocess.Popen(  # noqa: S603
        [py_spy, "record", "--pid", str(pid), "--rate", str(rate), "--duration", f"{max(1, round(seconds))}",
         "--format", "raw", "--gil", "--output", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip


def describe(name: str, profile: Profile, top: int = 10) -> str:
    lines = [f"{name}: {profile.samples} samples"]
    lines += [f"  {hop:<30} {share:6.1%}" for hop, share in profile.hop_shares().items()]
    lines.append("  top functions (innermost frame):")
    lines += [f"    {share:6.1%}  {function}" for function, share in profile.top(top)]
    return "\n".join(lines)
