"""The sandbox's HTTP front: moto's AWS API for every client, moto's own API for nobody.

moto's /moto-api/ serialises every backend, private keys of key pairs included, to any
local process that asks. The front answers the AWS API paths, its own health and status
routes, and refuses /moto-api/ unless the request carries the sandbox's secret.
"""

from __future__ import annotations

import hmac
import json
import os
from collections.abc import Callable, Iterable
from typing import Any

from dlworkshop.sandbox.credentials import PATH as credentials_path

SECRET_HEADER = "X-Dlworkshop-Sandbox-Secret"
HEALTH = "/dlworkshop/health"
STATUS = "/dlworkshop/status"
CHECKIP = "/dlworkshop/checkip"


def _reply(start_response: Callable, status: str, body: Any, kind: str = "application/json"):
    data = (json.dumps(body) if kind == "application/json" else str(body)).encode()
    start_response(status, [("Content-Type", kind), ("Content-Length", str(len(data)))])
    return [data]


class Front:
    """WSGI middleware in front of moto's DomainDispatcherApplication."""

    def __init__(self, app: Callable, secret: str, status: Callable[[], dict],
                 credentials: Any = None) -> None:  # fmt: skip
        self.app = app
        self.secret = secret
        self.status = status
        self.credentials = credentials  # the tasks' role credentials (sandbox/credentials.py)

    def _authorised(self, environ: dict) -> bool:
        given = environ.get("HTTP_" + SECRET_HEADER.upper().replace("-", "_"), "")
        return hmac.compare_digest(given.encode(), self.secret.encode())

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == HEALTH:
            # Enough to tell our sandbox from a stranger on the port; nothing secret.
            return _reply(start_response, "200 OK", {"ok": True, "pid": os.getpid()})
        if path == CHECKIP:
            # What checkip.amazonaws.com tells an EC2 client; here every client is local.
            return _reply(start_response, "200 OK", "127.0.0.1\n", "text/plain")
        if self.credentials is not None and path.startswith(credentials_path):
            status, body = self.credentials.answer(path, environ.get("HTTP_AUTHORIZATION", ""))
            return _reply(start_response, status, body)
        if path == STATUS or path.startswith("/moto-api"):
            if not self._authorised(environ):
                refusal = {"message": "The sandbox's internal API needs the sandbox's secret."}
                return _reply(start_response, "403 Forbidden", refusal)
            if path == STATUS:
                return _reply(start_response, "200 OK", self.status())
        if "/pricing/aws4_request" in environ.get("HTTP_AUTHORIZATION", ""):
            # moto has no Price List API and would leave the client waiting for minutes; the
            # sandbox has no market to quote, so it refuses at once (the estimate says so).
            refusal = {"__type": "UnsupportedOperation",
                       "message": "The sandbox has no AWS Price List API."}  # fmt: skip
            return _reply(start_response, "400 Bad Request", refusal)
        return self.app(environ, start_response)


def serve(host: str, port: int, secret: str, status: Callable[[], dict],
          credentials: Any = None) -> Any:  # fmt: skip
    """moto's server behind the front, on its own thread; returns the werkzeug server."""
    import threading

    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    app = Front(DomainDispatcherApplication(create_backend_app), secret, status, credentials)
    # moto's handler keeps S3 metadata headers whose names have underscores.
    server = make_server(host, port, app, threaded=True, request_handler=MotoRequestHandler)
    threading.Thread(target=server.serve_forever, name="moto", daemon=True).start()
    return server
