"""A loopback TCP proxy that can be cut and restored: a real network outage between
the app and PostgreSQL, without touching the server."""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import urlsplit, urlunsplit

POSTGRES_PORT = 5432  # what a database URL without a port means


class TcpProxy:
    def __init__(self, target_host: str, target_port: int):
        self.target = (target_host, target_port)
        self.server: asyncio.AbstractServer | None = None
        self.port = 0
        self._streams: set[asyncio.StreamWriter] = set()
        # The proxy's own connections to the target, kept: their peer address cannot tell
        # them apart when the target is a name ("localhost" is reached as 127.0.0.1 or ::1).
        self._upstream: set[asyncio.StreamWriter] = set()

    @classmethod
    def for_database(cls, url: str) -> "TcpProxy":
        """A proxy to the server of a database URL (with or without a port)."""
        parts = urlsplit(url)
        return cls(parts.hostname, parts.port or POSTGRES_PORT)

    def url(self, database_url: str) -> str:
        """The database URL through this proxy (start it first)."""
        parts = urlsplit(database_url)
        user = parts.netloc.rpartition("@")[0]
        return urlunsplit(parts._replace(netloc=f"{user}@127.0.0.1:{self.port}" if user else f"127.0.0.1:{self.port}"))

    async def start(self, port: int = 0) -> None:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", port or self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        """Stop accepting and drop every open connection."""
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None
        for writer in list(self._streams):
            writer.transport.abort()
        self._streams.clear()
        self._upstream.clear()

    async def pause(self) -> None:
        """Refuse new connections; open ones stay (a listener that loses its connection
        cannot reconnect until `start()` again)."""
        if self.server is not None:
            # No wait_closed(): from Python 3.12 on it also waits for the open connections.
            self.server.close()
            self.server = None

    def upstream_ports(self) -> set[int]:
        """The local ports of the proxy's connections to the target (what the server sees
        as client ports)."""
        return {w.get_extra_info("sockname")[1] for w in self._upstream if w in self._streams}

    async def _handle(self, reader, writer) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._streams.update({writer, upstream_writer})
        self._upstream.add(upstream_writer)

        async def pipe(source, sink):
            with contextlib.suppress(Exception):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.transport.abort()

        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))
