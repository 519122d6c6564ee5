"""The relay carries a conversation both ways between its address and a server on loopback."""

import socket
import threading

from folio_testing.plugin import free_port
from folio_testing.relay import relay


def test_bytes_go_both_ways_through_the_relay() -> None:
    server = socket.create_server(("127.0.0.1", 0))
    target = server.getsockname()[1]

    def echo() -> None:
        connection, _ = server.accept()
        with connection:
            connection.sendall(connection.recv(1024).upper())

    threading.Thread(target=echo, daemon=True).start()
    listen = free_port()
    with (
        relay("127.0.0.1", {listen: target}),
        socket.create_connection(("127.0.0.1", listen), timeout=5) as client,
    ):
        client.sendall(b"folio")
        assert client.recv(1024) == b"FOLIO"
    server.close()
