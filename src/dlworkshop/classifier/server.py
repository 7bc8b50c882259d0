"""`dlworkshop serve`: a TorchServe-compatible HTTP model server over MXNet."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from dlworkshop.classifier import model as model_mod
from dlworkshop.classifier.batching import Batcher
from dlworkshop.classifier.openapi import spec as openapi_spec
from dlworkshop.classifier.preprocess import BadImage

MAX_BODY = 20 * 1024 * 1024
MAX_QUEUE = 256  # requests waiting for a forward pass before the server answers 503


@dataclass
class Settings:
    """How the server batches and what it accepts."""

    models: tuple[str, ...] = (model_mod.registry.DEFAULT_MODEL,)
    batch_size: int = 8
    max_batch_delay_ms: float = 5.0
    max_body: int = MAX_BODY
    gpu: bool = False


class HTTPError(Exception):
    """An error answered as TorchServe does: {"code", "type", "message"}."""

    def __init__(self, code: int, kind: str, message: str) -> None:
        super().__init__(message)
        self.code, self.kind, self.message = code, kind, message

    def response(self, headers: dict | None = None) -> JSONResponse:
        return JSONResponse(
            {"code": self.code, "type": self.kind, "message": self.message}, self.code, headers
        )


async def _read_body(request: Request, limit: int) -> bytes:
    """The whole body, refusing (413) as soon as it passes the limit."""
    declared = request.headers.get("content-length")
    too_big = HTTPError(
        413, "RequestEntityTooLarge", f"The body is larger than {limit // (1024 * 1024)} MB."
    )
    if declared and declared.isdigit() and int(declared) > limit:
        raise too_big
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_big
        chunks.append(chunk)
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
    """The ASGI app; models are loaded before it starts answering."""
    settings = settings or Settings()
    services: dict[str, Batcher] = {}
    decode_pool = ThreadPoolExecutor(max(2, os.cpu_count() or 2), thread_name_prefix="decode")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        loop = asyncio.get_running_loop()
        for name in settings.models:
            classifier = await loop.run_in_executor(None, model_mod.load, name, settings.gpu)
            batcher = Batcher(classifier, settings.batch_size, settings.max_batch_delay_ms / 1000)
            batcher.start()
            services[name] = batcher
        try:
            yield
        finally:
            for batcher in services.values():
                await batcher.stop()
            decode_pool.shutdown(wait=False, cancel_futures=True)

    def service(name: str) -> Batcher:
        if name not in services:
            raise HTTPError(
                404,
                "ModelNotFoundException",
                f"Model not found: {name}. This server serves: {', '.join(services)}.",
            )
        return services[name]

    async def ping(request: Request) -> JSONResponse:
        return JSONResponse({"status": "Healthy" if services else "Unhealthy"})

    async def list_models(request: Request) -> JSONResponse:
        return JSONResponse(
            {"models": [{"modelName": n, "modelUrl": f"{n}.mar"} for n in services]}
        )

    async def describe_model(request: Request) -> JSONResponse:
        try:
            batcher = service(request.path_params["model_name"])
        except HTTPError as exc:
            return exc.response()
        spec = batcher.classifier.spec
        return JSONResponse([{
            "modelName": spec.name,
            "modelVersion": "1.0",
            "modelUrl": f"{spec.name}.mar",
            "runtime": "python",
            "engine": "MXNet",
            "description": spec.title,
            "minWorkers": 1,
            "maxWorkers": 1,
            "batchSize": batcher.batch_size,
            "maxBatchDelay": settings.max_batch_delay_ms,
            "inputSize": spec.input_size,
            "catLabels": list(spec.cat_labels),
            "catThreshold": spec.cat_threshold,
            "source": spec.source,
            "batchesRun": batcher.batches,
            "imagesClassified": batcher.items,
            "workers": [{"id": "9000", "status": "READY", "gpu": settings.gpu}],
        }])  # fmt: skip

    async def predict(request: Request) -> JSONResponse:
        started = time.perf_counter()
        try:
            batcher = service(request.path_params["model_name"])
            body = await _read_body(request, settings.max_body)
            data = await _image_bytes(request, body)
            if batcher.queue.qsize() >= MAX_QUEUE:
                raise HTTPError(503, "ServiceUnavailableException", "Too many requests queued.")
            loop = asyncio.get_running_loop()
            try:
                array = await loop.run_in_executor(decode_pool, batcher.classifier.preprocess, data)
            except BadImage as exc:
                raise HTTPError(400, "BadImage", str(exc)) from None
            probs = await batcher.submit(array)
        except HTTPError as exc:
            return exc.response()
        (prediction,) = batcher.classifier.verdicts(probs[None])
        result = prediction.to_dict()
        result["latency_ms"] = round((time.perf_counter() - started) * 1000, 2)
        return JSONResponse(result)

    async def openapi(request: Request) -> JSONResponse:
        return JSONResponse(openapi_spec(list(settings.models)))

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

    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_level=log_level,
        access_log=log_level == "debug",
        timeout_graceful_shutdown=5,
    )
