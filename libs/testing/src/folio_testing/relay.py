"""A TCP relay: an address on a test network forwarded to a server on this machine's loopback.

The test harness starts PostgreSQL, Redis and the development OpenID provider on 127.0.0.1. Containers
on a podman network reach the host only through the network's gateway address, which exists while the
network's bridge does: the relay listens there (IP_FREEBIND lets it bind before the bridge comes up)
and copies bytes both ways, so each server stays on loopback and is reached from the containers
the way a cluster reaches a store in another namespace.
"""

import asyncio
import contextlib
import socket
import threading
from collections.abc import Iterator, Mapping

# Linux: bind to an address no interface holds yet (the bridge appears with its first container).
IP_FREEBIND = 15


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


class Relay:
    """Listens on (host, port) for each entry of `routes` and forwards to 127.0.0.1:target, in a thread."""

    def __init__(self, host: str, routes: Mapping[int, int]) -> None:
        self.host = host
        self.routes = dict(routes)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="folio-relay", daemon=True)
        self._servers: list[asyncio.Server] = []

    def start(self) -> None:
        self._thread.start()
        for listen, target in self.routes.items():
            future = asyncio.run_coroutine_threadsafe(self._serve(listen, target), self._loop)
            self._servers.append(future.result(timeout=10))

    async def _serve(self, listen: int, target: int) -> asyncio.Server:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_IP, IP_FREEBIND, 1)
        sock.bind((self.host, listen))

        async def forward(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", target)
            except OSError:
                writer.close()
                return
            await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))

        return await asyncio.start_server(forward, sock=sock)

    def stop(self) -> None:
        async def close() -> None:
            for server in self._servers:
                server.close()
            pending = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout=10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)


@contextlib.contextmanager
def relay(host: str, routes: Mapping[int, int]) -> Iterator[Relay]:
    """A running Relay for the duration of the block."""
    running = Relay(host, routes)
    running.start()
    try:
        yield running
    finally:
        running.stop()
