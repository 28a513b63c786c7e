"""A loopback TCP proxy that resets one upload exchange after exactly N bytes, in either direction.

Put in front of the emulator, it passes everything through untouched until it sees a
``POST`` request start on a connection while a cut is armed. From that byte on it counts:
a ``request`` cut forwards N bytes of the request to the server and then resets both sides
(RST, ``SO_LINGER`` 0), as a dying middlebox would; a ``response`` cut forwards the whole
request, then N bytes of the answer, then resets. One armed cut fires at most once. With no
cut armed it records the bytes of the last POST exchange, so a test can iterate N over the
boundaries of it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import selectors
import socket
import struct
import threading

METHOD_STARTS = (b"GET ", b"POST ", b"PUT ", b"DELETE ", b"HEAD ", b"PATCH ", b"OPTIONS ")


@dataclasses.dataclass
class _Exchange:
    """Byte counts of the POST exchange under way on one connection, and the cut that applies to it."""

    cut: tuple[str, int] | None
    request: bytearray = dataclasses.field(default_factory=bytearray)
    response: bytearray = dataclasses.field(default_factory=bytearray)


class CuttingProxy:
    def __init__(self, upstream_port: int):
        self._upstream = ("127.0.0.1", upstream_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._armed: tuple[str, int] | None = None
        self._closed = False
        self.fired = 0
        self.last_exchange: tuple[bytes, bytes] = (b"", b"")  # (request, response) of the last uncut POST exchange
        self._threads: list[threading.Thread] = []
        accept = threading.Thread(target=self._accept, name="cutting-proxy", daemon=True)
        accept.start()
        self._threads.append(accept)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def arm(self, direction: str, after: int) -> None:
        """Cut the next POST exchange after ``after`` bytes of its ``request`` or ``response``."""
        assert direction in ("request", "response")
        with self._lock:
            self._armed = (direction, after)

    def disarm(self) -> None:
        with self._lock:
            self._armed = None

    def close(self) -> None:
        self._closed = True
        for thread in self._threads:
            thread.join(timeout=5)
        self._listener.close()

    def __enter__(self) -> CuttingProxy:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- internals ------------------------------------------------------------------------------
    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            thread = threading.Thread(target=self._relay, args=(client,), name="cutting-proxy-link", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _take_cut(self) -> tuple[str, int] | None:
        with self._lock:
            cut, self._armed = self._armed, None
            return cut

    def _relay(self, client: socket.socket) -> None:
        client.setblocking(True)
        server = socket.create_connection(self._upstream)
        for sock in (client, server):  # forward each piece at once, as the endpoints write it (no Nagle delay)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        exchange: _Exchange | None = None
        with selectors.DefaultSelector() as selector:
            selector.register(client, selectors.EVENT_READ)
            selector.register(server, selectors.EVENT_READ)
            while not self._closed:
                for key, _ in selector.select(timeout=0.2):
                    source = key.fileobj
                    data = source.recv(65536)
                    if not data:
                        client.close()
                        server.close()
                        return
                    if source is client:
                        if data.startswith(METHOD_STARTS):  # a new request ends the POST exchange
                            exchange = _Exchange(self._take_cut()) if data.startswith(b"POST ") else None
                        forward, cut = self._count(exchange, "request", data)
                        destination = server
                    else:
                        forward, cut = self._count(exchange, "response", data)
                        destination = client
                    if forward:
                        destination.sendall(forward)
                    if cut:
                        self.fired += 1
                        _reset(client)
                        _reset(server)
                        return
        client.close()
        server.close()

    def _count(self, exchange: _Exchange | None, direction: str, data: bytes) -> tuple[bytes, bool]:
        """What to forward of ``data``, and whether to cut after it."""
        if exchange is None:
            return data, False
        seen = getattr(exchange, direction)
        if exchange.cut is not None and exchange.cut[0] == direction and len(seen) + len(data) > exchange.cut[1]:
            return data[: exchange.cut[1] - len(seen)], True
        seen += data
        if exchange.cut is None:
            self.last_exchange = (bytes(exchange.request), bytes(exchange.response))
        return data, False


def _reset(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()
