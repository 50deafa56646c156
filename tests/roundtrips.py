"""Count the round trips a client makes to PostgreSQL: a TCP relay on loopback.

A round trip is a turn of the conversation: the client speaks after the server last did (or
first). Statements sent together in one pipeline are one turn; a statement that waits for its
answer before the next is sent is one turn each. The relay sits between a Store and the real
server at `target` and counts turns over all its connections.
"""

from __future__ import annotations

import selectors
import socket
import threading


class RoundTripCounter:
    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.turns = 0
        self.said: list[bytes] = []
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, database_url: str) -> str:
        """`database_url` with its host and port replaced by the relay's."""
        scheme, rest = database_url.split("://", 1)
        user, hostpart = rest.split("@", 1)
        db = hostpart.split("/", 1)[1]
        return f"{scheme}://{user}@127.0.0.1:{self.port}/{db}"

    def reset(self) -> None:
        with self._lock:
            self.turns = 0
            self.said.clear()

    def close(self) -> None:
        self._stop.set()
        self._listener.close()

    def _accept(self) -> None:
        self._listener.settimeout(0.2)
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client: socket.socket) -> None:
        server = socket.create_connection(self.target)
        sel = selectors.DefaultSelector()
        sel.register(client, selectors.EVENT_READ, server)
        sel.register(server, selectors.EVENT_READ, client)
        server_spoke_last = True
        try:
            while not self._stop.is_set():
                for key, _ in sel.select(timeout=0.2):
                    src: socket.socket = key.fileobj  # type: ignore[assignment]
                    data = src.recv(65536)
                    if not data:
                        return
                    if src is client:
                        if server_spoke_last:
                            with self._lock:
                                self.turns += 1
                                self.said.append(data[:160])
                        server_spoke_last = False
                    else:
                        server_spoke_last = True
                    key.data.sendall(data)
        finally:
            sel.close()
            client.close()
            server.close()
