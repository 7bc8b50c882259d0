"""The header deadline holds with either HTTP protocol uvicorn may run (httptools when
installed, h11 otherwise): a silent connection is closed, a prompt request is answered."""

from __future__ import annotations

import socket
import threading
import time

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from dlworkshop.classifier import http_protocol
from dlworkshop.processes import free_port


async def _ping(request) -> JSONResponse:
    return JSONResponse({"status": "Healthy"})


@pytest.mark.parametrize("fast", [True, False])
def test_a_silent_connection_is_closed_and_a_prompt_one_answered(fast: bool) -> None:
    if fast and not http_protocol.fast():
        pytest.skip("httptools and uvloop are not installed")
    protocol = http_protocol.with_header_timeout(0.5, fast)
    expected = "HttpToolsProtocol" if fast else "H11Protocol"
    assert expected in [base.__name__ for base in protocol.__mro__]
    port = free_port()
    # uvicorn's own keep-alive timeout far off: only the header deadline closes connections.
    server = uvicorn.Server(uvicorn.Config(Starlette(routes=[Route("/ping", _ping)]),
                                           host="127.0.0.1", port=port, http=protocol,
                                           loop="asyncio", log_level="warning",
                                           timeout_keep_alive=60))  # fmt: skip
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.02)
        silent = socket.create_connection(("127.0.0.1", port), timeout=5)
        began = time.monotonic()
        assert silent.recv(1024) == b""  # closed by the server, not by our timeout
        assert 0.4 < time.monotonic() - began < 3
        prompt = socket.create_connection(("127.0.0.1", port), timeout=5)
        prompt.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
        began = time.monotonic()
        answer = b""
        while chunk := prompt.recv(4096):  # until closed: idle after its answer
            answer += chunk
        assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b'"Healthy"}')
        assert time.monotonic() - began < 3
        for sock in (silent, prompt):
            sock.close()
    finally:
        server.should_exit = True
        thread.join(10)
