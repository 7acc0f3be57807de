"""A real SMTP server (aiosmtpd) on 127.0.0.1 that accepts, counts and forgets mails.

Runs in its own process, so its CPU is not the app's: prints the port it bound on its
first line; on SIGTERM prints "<messages> <connections>" and exits. The same protocol as
the Django peer's smtp_sink.py, so both products send to the same kind of server.

    python -m bench.smtp_sink [PORT]
"""

from __future__ import annotations

import asyncio
import signal
import sys

from aiosmtpd.smtp import SMTP


class CountingSink:
    def __init__(self):
        self.messages = 0
        self.connections = 0

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        self.connections += 1
        session.host_name = hostname
        return responses

    async def handle_DATA(self, server, session, envelope):
        self.messages += 1
        return "250 Message accepted for delivery"


async def main(port: int) -> None:
    handler = CountingSink()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(handler, hostname="sink.localhost"), "127.0.0.1", port)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(server.sockets[0].getsockname()[1], flush=True)
    await stop.wait()
    server.close()
    print(handler.messages, handler.connections, flush=True)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 0))
