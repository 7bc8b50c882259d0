"""uvicorn's HTTP protocol with a deadline for each request's headers.

uvicorn times out idle keep-alive connections only after a response, and any byte
resets that timer: a client that connects and sends nothing, or one byte every few
seconds, would hold a connection forever. Here every connection must deliver a whole
request head within the deadline, from its opening and after each response.
"""

from __future__ import annotations

import asyncio
import importlib.util
from typing import Any


def fast() -> bool:
    """Whether httptools (C HTTP parser) and uvloop (libuv event loop) are installed."""
    return all(importlib.util.find_spec(name) is not None for name in ("httptools", "uvloop"))


def with_header_timeout(seconds: float, fast: bool) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol class (httptools when `fast`, else h11), closing
    connections whose head is late."""
    base: Any
    if fast:  # the front parses every request: C costs it a fraction of h11's CPU
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as base
    else:
        from uvicorn.protocols.http.h11_impl import H11Protocol as base

    class HeaderTimeoutProtocol(base):  # type: ignore[misc, valid-type]
        _head_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
            super().connection_lost(exc)

        def _arm(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
            self._head_timer = self.loop.call_later(seconds, self._late)

        def _late(self) -> None:
            self._head_timer = None
            busy = self.cycle is not None and not self.cycle.response_complete
            if not busy and not self.transport.is_closing():
                self.transport.close()  # no request in progress: an idle or stalled head

    return HeaderTimeoutProtocol
