"""`dlworkshop serve`: a TorchServe-compatible HTTP model server over MXNet.

One HTTP front (this process) reads bodies, refuses what it must in milliseconds, and
hands images to a pool of model worker processes (one per core by default), each of
which decodes, preprocesses and runs the fused MXNet graph.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from dlworkshop.classifier import model as model_mod
from dlworkshop.classifier.openapi import spec as openapi_spec
from dlworkshop.classifier.preprocess import BadImage, ImageTooLarge, probe
from dlworkshop.classifier.workers import Overloaded, Pool, WorkerLost

MAX_BODY = 20 * 1024 * 1024


def default_workers() -> int:
    """One model worker per core (each runs one OpenMP thread)."""
    return max(1, os.cpu_count() or 1)


@dataclass
class Settings:
    """How the server batches, how many workers it runs and what it accepts."""

    models: tuple[str, ...] = (model_mod.registry.DEFAULT_MODEL,)
    batch_size: int = 1
    max_batch_delay_ms: float = 5.0
    max_body: int = MAX_BODY
    gpu: bool = False
    workers: int = 0  # 0: one per core (one in all on a GPU)
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
    judges: dict[str, model_mod.Judge] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        loop = asyncio.get_running_loop()
        try:
            for name in settings.models:
                spec = model_mod.registry.get(name)
                # Fetched and converted once here, before the workers load it side by side.
                await loop.run_in_executor(None, model_mod.prepare, spec)
                judges[name] = model_mod.Judge(spec)
                pool = Pool(name, settings.worker_count(), settings.batch_size,
                            settings.max_batch_delay_ms / 1000, settings.queue_limit(),
                            settings.gpu)  # fmt: skip
                pools[name] = pool
                await pool.start()
            yield
        finally:
            for pool in pools.values():
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
        spec = judges[pool.model].spec
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
            probs = await pool.submit(data)
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
        (prediction,) = judges[pool.model].verdicts(probs[None])
        result = prediction.to_dict()
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

    return Starlette(
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


def serve(host: str, port: int, settings: Settings, log_level: str = "info") -> None:
    """Run the server until interrupted."""
    import uvicorn

    from dlworkshop.classifier.http_protocol import with_header_timeout

    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_level=log_level,
        access_log=log_level == "debug",
        timeout_graceful_shutdown=5,
        http=with_header_timeout(settings.header_timeout),
    )
