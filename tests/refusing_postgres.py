"""A server on loopback that speaks just enough of PostgreSQL's protocol to refuse every connection with one
error, as a real server does while it starts up or shuts down (SQLSTATE 57P03), or when it has no connection slot
left (53300)."""

from __future__ import annotations

import asyncio
import struct
from types import TracebackType

__all__ = ["RefusingPostgres"]

SSL_REQUEST = 80877103


class RefusingPostgres:
    def __init__(self, sqlstate: str, message: str) -> None:
        fields = b"".join(
            kind + value.encode() + b"\0"
            for kind, value in ((b"S", "FATAL"), (b"V", "FATAL"), (b"C", sqlstate), (b"M", message))
        )
        body = fields + b"\0"
        self._error = b"E" + struct.pack("!i", len(body) + 4) + body
        self._server: asyncio.Server | None = None
        self.port = 0

    async def __aenter__(self) -> RefusingPostgres:
        self._server = await asyncio.start_server(self._refuse, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _refuse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:  # an SSLRequest (answered "no"), then the StartupMessage, answered with the error
                (length,) = struct.unpack("!i", await reader.readexactly(4))
                (code,) = struct.unpack("!i", (await reader.readexactly(length - 4))[:4])
                if code != SSL_REQUEST:
                    break
                writer.write(b"N")
            writer.write(self._error)
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
