"""`dlworkshop serve`: a TorchServe-compatible HTTP model server over MXNet.

One HTTP front (this process) reads bodies, refuses what it must in milliseconds, and
hands images to a pool of model worker processes (one per core by default), each of
which decodes, preprocesses and runs the fused MXNet graph.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from dlworkshop.classifier import model as model_mod
from dlworkshop.classifier.openapi import spec as openapi_spec
from dlworkshop.classifier.preprocess import BadImage, ImageTooLarge, probe
from dlworkshop.classifier.workers import Overloaded, Pool, WorkerLost
from dlworkshop.errors import UserError

MAX_BODY = 20 * 1024 * 1024


def default_workers() -> int:
    """One model worker per core it may use (each runs one OpenMP thread)."""
    from dlworkshop import cores

    return cores.available()


@dataclass
class Settings:
    """How the server batches, how many workers it runs and what it accepts."""

    models: tuple[str, ...] = (model_mod.registry.DEFAULT_MODEL,)
    batch_size: int = 1
    max_batch_delay_ms: float = 5.0
    max_body: int = MAX_BODY
    gpu: bool = False
    workers: int = 0  # 0: one per core (one in all on a GPU)
    pin_workers: bool = True  # each worker bound to a core of its own (workers.cpus_for)
    max_queue: int = 0  # requests admitted at once; 0: 32 per worker (then 503)
    header_timeout: float = 10.0  # seconds for a connection to send a request's headers
    body_timeout: float = 30.0  # seconds for a request's whole body

    def worker_count(self) -> int:
        return 1 if self.gpu else (self.workers or default_workers())

    def queue_limit(self) -> int:
        return self.max_queue or 32 * self.worker_count()


class HTTPError(Exception):
    """An error answered as TorchServe does: {"code", "type", "message"}."""

    def __init__(self, code: int, kind: str, message: str, headers: dict | None = None) -> None:
        super().__init__(message)
        self.code, self.kind, self.message = code, kind, message
        self.headers = headers

    def response(self, headers: dict | None = None) -> JSONResponse:
        return JSONResponse(
            {"code": self.code, "type": self.kind, "message": self.message},
            self.code,
            headers or self.headers,
        )


async def _read_body(request: Request, limit: int, timeout: float) -> bytes:
    """The whole body, refusing (413) as soon as it passes the limit, (408) if too slow."""
    declared = request.headers.get("content-length")
    too_big = HTTPError(
        413, "RequestEntityTooLarge", f"The body is larger than {limit // (1024 * 1024)} MB."
    )
    if declared and declared.isdigit() and int(declared) > limit:
        raise too_big
    chunks, size = [], 0
    try:
        async with asyncio.timeout(timeout):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise too_big
                chunks.append(chunk)
    except TimeoutError:
        raise HTTPError(408, "RequestTimeout",
                        f"The body did not arrive within {timeout:g} s.") from None  # fmt: skip
    return b"".join(chunks)


async def _image_bytes(request: Request, body: bytes) -> bytes:
    """The image: the raw body, or the multipart field "data" (or "body"), as TorchServe."""
    ctype = request.headers.get("content-type", "")
    if not ctype.startswith("multipart/form-data"):
        return body
    from starlette.datastructures import Headers
    from starlette.formparsers import MultiPartException, MultiPartParser

    async def stream():
        yield body
        yield b""

    try:
        form = await MultiPartParser(
            Headers(raw=request.headers.raw), stream(), max_files=4, max_fields=16
        ).parse()
    except (MultiPartException, ValueError, KeyError) as exc:
        raise HTTPError(400, "BadRequest", f"The multipart body could not be read: {exc}") from None
    try:
        for field in ("data", "body"):
            value = form.get(field)
            if value is None:
                continue
            if isinstance(value, str):
                return value.encode("latin-1", errors="replace")
            return await value.read()
        raise HTTPError(400, "BadRequest", 'The multipart body has no "data" field.')
    finally:
        await form.close()


def create_app(settings: Settings | None = None) -> Starlette:
    """The ASGI app; models are loaded (in their workers) before it starts answering."""
    settings = settings or Settings()
    pools: dict[str, Pool] = {}
    specs: dict[str, model_mod.ModelSpec] = {}

    changing = asyncio.Lock()  # one registration at a time

    async def register(name: str) -> None:
        """Load a model into workers of its own and serve it (at start, or at run time)."""
        async with changing:
            if name in pools:
                raise HTTPError(409, "ConflictStatusException",
                                f"Model {name} is already registered.")  # fmt: skip
            try:
                spec = model_mod.registry.get(name)
            except UserError as exc:
                raise HTTPError(404, "ModelNotFoundException", str(exc)) from None
            loop = asyncio.get_running_loop()
            # Fetched and converted once here, before the workers load it side by side.
            await loop.run_in_executor(None, model_mod.prepare, spec)
            model_mod.Judge(spec)  # its cat labels are among its labels: said before workers
            pool = Pool(name, settings.worker_count(), settings.batch_size,
                        settings.max_batch_delay_ms / 1000, settings.queue_limit(),
                        settings.gpu, pin=settings.pin_workers)  # fmt: skip
            await pool.start()
            specs[name], pools[name] = spec, pool

    async def unregister(name: str) -> None:
        async with changing:
            pool = service(name)
            if len(pools) == 1:
                raise HTTPError(409, "ConflictStatusException",
                                f"{name} is the only model served; register another first.")
            del pools[name]
            specs.pop(name, None)
            await pool.stop()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        try:
            for name in settings.models:
                await register(name)
            # What start-up made lives as long as the server: no collection need scan it.
            gc.freeze()
            yield
        finally:
            for pool in list(pools.values()):
                await pool.stop()

    def service(name: str) -> Pool:
        if name not in pools:
            raise HTTPError(
                404,
                "ModelNotFoundException",
                f"Model not found: {name}. This server serves: {', '.join(pools)}.",
            )
        return pools[name]

    async def ping(request: Request) -> JSONResponse:
        ready = pools and all(any(w.status == "READY" for w in p.workers) for p in pools.values())
        return JSONResponse({"status": "Healthy" if ready else "Unhealthy"})

    async def list_models(request: Request) -> JSONResponse:
        return JSONResponse({"models": [{"modelName": n, "modelUrl": f"{n}.mar"} for n in pools]})

    async def describe_model(request: Request) -> JSONResponse:
        try:
            pool = service(request.path_params["model_name"])
        except HTTPError as exc:
            return exc.response()
        spec = specs[pool.model]
        return JSONResponse([{
            "modelName": spec.name,
            "modelVersion": "1.0",
            "modelUrl": f"{spec.name}.mar",
            "runtime": "python",
            "engine": "MXNet",
            "description": spec.title,
            "minWorkers": pool.size,
            "maxWorkers": pool.size,
            "batchSize": pool.batch_size,
            "maxBatchDelay": settings.max_batch_delay_ms,
            "maxQueue": pool.max_queue,
            "pendingRequests": pool.pending,
            "inputSize": spec.input_size,
            "catLabels": list(spec.cat_labels),
            "catThreshold": spec.cat_threshold,
            "catVerdict": ("share of the animal classes' mass" if spec.animal_labels
                           else "summed probability"),
            "source": spec.source,
            "batchesRun": pool.batches,
            "imagesClassified": pool.items,
            "workers": pool.describe(),
        }])  # fmt: skip

    async def predict(request: Request) -> Response:
        started = time.perf_counter()
        try:
            pool = service(request.path_params["model_name"])
            if pool.pending >= pool.max_queue:  # refuse before reading a byte of the body
                raise Overloaded()
            body = await _read_body(request, settings.max_body, settings.body_timeout)
            data = await _image_bytes(request, body)
            probe(data)  # sizes from the header: an oversized image costs no worker time
            result = await pool.submit(data)  # the worker's verdict, as a dict
        except ClientDisconnect:  # the client left mid-body: nobody to answer
            return Response(status_code=499)
        except HTTPError as exc:
            return exc.response()
        except Overloaded:
            return HTTPError(503, "ServiceUnavailableException",
                             "The server is busy: every model worker is occupied and the "
                             "queue is full. Try again shortly.",
                             {"Retry-After": "1"}).response()  # fmt: skip
        except WorkerLost as exc:
            return HTTPError(503, "ServiceUnavailableException", str(exc),
                             {"Retry-After": "2"}).response()  # fmt: skip
        except ImageTooLarge as exc:
            return HTTPError(413, "ImageTooLarge", str(exc)).response()
        except BadImage as exc:
            return HTTPError(400, "BadImage", str(exc)).response()
        result["latency_ms"] = round((time.perf_counter() - started) * 1000, 2)
        return JSONResponse(result)

    async def openapi(request: Request) -> JSONResponse:
        return JSONResponse(openapi_spec(list(settings.models), settings.max_body))

    async def not_found(request: Request, exc: Exception) -> JSONResponse:
        return HTTPError(404, "NotFound", f"No such resource: {request.url.path}").response()

    async def not_allowed(request: Request, exc: Exception) -> JSONResponse:
        error = HTTPError(405, "MethodNotAllowed", f"{request.method} is not allowed here.")
        return error.response(getattr(exc, "headers", None))  # keeps the Allow header

    async def server_error(request: Request, exc: Exception) -> JSONResponse:
        return HTTPError(500, "InternalServerError", f"{type(exc).__name__}: {exc}").response()

    app = Starlette(
        routes=[
            Route("/ping", ping, methods=["GET"]),
            Route("/models", list_models, methods=["GET"]),
            Route("/models/{model_name}", describe_model, methods=["GET"]),
            Route("/predictions/{model_name}", predict, methods=["POST"]),
            Route("/openapi.json", openapi, methods=["GET"]),
        ],
        lifespan=lifespan,
        exception_handlers={404: not_found, 405: not_allowed, 500: server_error},
    )
    app.state.register, app.state.unregister = register, unregister
    app.state.models = lambda: list(pools)
    return app


def management_app(inference: Starlette) -> Starlette:
    """TorchServe's management API on its own port: list, register and unregister models
    at run time (`POST /models?url=NAME`, `DELETE /models/{name}`)."""

    async def listed(request: Request) -> JSONResponse:
        return JSONResponse({"models": [{"modelName": n, "modelUrl": f"{n}.mar"}
                                        for n in inference.state.models()]})  # fmt: skip

    async def register(request: Request) -> JSONResponse:
        url = request.query_params.get("url", "")
        # TorchServe takes a .mar URL; here a model name (built-in, trained or gluon:NAME).
        name = url.removesuffix(".mar").rsplit("/", 1)[-1]
        if not name:
            raise HTTPError(400, "BadRequestException", "Parameter url is required.")
        await inference.state.register(name)
        return JSONResponse({"status": f'Model "{name}" Version: 1.0 registered with '
                             "its workers"})  # fmt: skip

    async def unregister(request: Request) -> JSONResponse:
        name = request.path_params["model_name"]
        await inference.state.unregister(name)
        return JSONResponse({"status": f'Model "{name}" unregistered'})

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPError)
        return exc.response()

    return Starlette(routes=[
        Route("/models", listed, methods=["GET"]),
        Route("/models", register, methods=["POST"]),
        Route("/models/{model_name}", unregister, methods=["DELETE"]),
    ], exception_handlers={HTTPError: http_error})  # fmt: skip


def serve(host: str, port: int, settings: Settings, log_level: str = "info",
          management_port: int = 0) -> None:  # fmt: skip
    """Run the server until interrupted."""
    import uvicorn

    from dlworkshop.classifier import http_protocol

    app = create_app(settings)
    fast = http_protocol.fast()  # uvloop too: the front's event loop runs every request
    common: dict[str, Any] = {
        "host": host, "log_level": log_level, "access_log": log_level == "debug",
        "timeout_graceful_shutdown": 5, "loop": "uvloop" if fast else "asyncio",
        "proxy_headers": False,  # it answers clients directly: no proxy's headers to trust
        "http": http_protocol.with_header_timeout(settings.header_timeout, fast)}
    if not management_port:
        uvicorn.run(app, port=port, **common)
        return
    inference = uvicorn.Server(uvicorn.Config(app, port=port, **common))
    management = uvicorn.Server(uvicorn.Config(management_app(app), port=management_port,
                                               lifespan="off", **common))  # fmt: skip

    async def both() -> None:
        task = asyncio.create_task(inference.serve())
        while not inference.started and not task.done():
            await asyncio.sleep(0.05)  # the models load first: then the management port
        if not task.done():
            management_task = asyncio.create_task(management.serve())
            await task
            management.should_exit = True
            await management_task
        else:
            await task

    if fast:
        import uvloop

        uvloop.run(both())
    else:
        asyncio.run(both())
