"""`dlworkshop models`, `classify` and `serve`: the classifier's commands."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass

from dlworkshop.errors import UserError
from dlworkshop.events import Event, Failed, Log


@dataclass(frozen=True)
class ModelInfo(Event):
    """One model the registry knows."""

    name: str
    title: str
    format: str
    input_size: int
    cached: bool
    default: bool

    def render_text(self) -> str:
        star = "*" if self.default else " "
        cached = "[green]cached[/]" if self.cached else "[dim]not fetched[/]"
        return f"{star} [bold]{self.name:22}[/] {self.input_size:>3}px  {cached}  {self.title}"


@dataclass(frozen=True)
class ModelReady(Event):
    """A model is fetched, verified (and converted) and ready to load."""

    name: str
    path: str

    def render_text(self) -> str:
        return f"[green]✔[/] {self.name} is ready: {self.path}"


def add_parsers(sub, parent: list) -> None:
    """Register the classifier's subcommands."""
    models = sub.add_parser(
        "models", parents=parent, help="list (the default) or fetch the classifier's models"
    )
    models_sub = models.add_subparsers(dest="action", metavar="ACTION {list,fetch}")
    models_sub.add_parser("list", parents=parent, help="the models and whether they are cached")
    fetch = models_sub.add_parser(
        "fetch", parents=parent, help="download (sha256-checked) and prepare a model"
    )
    fetch.add_argument("name")

    classify = sub.add_parser(
        "classify", parents=parent, help="is it a cat? for files, folders or URLs"
    )
    classify.add_argument("sources", nargs="+", metavar="PATH|DIR|URL")
    classify.add_argument("--model", default=None, help="model name (see `models list`)")
    classify.add_argument("--endpoint", help="classify through this model server instead")
    classify.add_argument("--gpu", action="store_true", help="run MXNet on the GPU")

    serve = sub.add_parser("serve", parents=parent, help="TorchServe-compatible model server")
    serve.add_argument("--model", action="append", help="model to serve (repeatable)")
    serve.add_argument(
        "--host",
        default=os.environ.get("DLWORKSHOP_BIND_ADDRESS") or "127.0.0.1",
        help="address to listen on (default: $DLWORKSHOP_BIND_ADDRESS, else 127.0.0.1)",
    )
    serve.add_argument("--port", type=int, default=8080)
    from dlworkshop import cores as cores_mod

    cores = cores_mod.available()
    serve.add_argument(
        "--workers",
        type=int,
        default=0,
        help=f"model worker processes, each one core's worth of decoding and MXNet "
        f"(default: one per core, {cores} here; 1 with --gpu)",
    )
    serve.add_argument(
        "--pin-workers",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="bind each worker to a core of its own, in turn (default on: 5-6%% more "
        "images/s under load on two cores; --no-pin-workers leaves it to the scheduler)",
    )
    serve.add_argument(
        "--batch-size",
        type=int,
        default=1,
        help="largest batch a worker runs at once, as TorchServe (default 1: on CPUs the "
        "fused graph costs the same per image at any batch size, and waiting adds latency)",
    )
    serve.add_argument(
        "--max-batch-delay",
        type=float,
        default=5.0,
        help="milliseconds to wait to fill a batch (as TorchServe; default 5)",
    )
    serve.add_argument(
        "--max-queue",
        type=int,
        default=0,
        help="requests admitted at once before answering 503 with Retry-After "
        "(default: 32 per worker)",
    )
    serve.add_argument("--max-body-mb", type=int, default=20, help="largest body (default 20)")
    serve.add_argument("--header-timeout", type=float, default=10.0,
                       help="seconds a connection has to send a request's headers; idle "
                       "and stalled connections are closed (default 10)")  # fmt: skip
    serve.add_argument("--body-timeout", type=float, default=30.0,
                       help="seconds a body may take before a 408 (default 30)")  # fmt: skip
    serve.add_argument("--management-port", type=int, default=0,
                       help="also serve TorchServe's management API here (list, register "
                       "and unregister models at run time; 8081 in TorchServe); default off")
    serve.add_argument("--gpu", action="store_true")
    serve.add_argument("--log-level", default="info")
    serve.add_argument("--owner-pid", type=int, help=argparse.SUPPRESS)  # exit with this PID


def cmd_models(args: argparse.Namespace, printer) -> Iterator[Event]:
    from dlworkshop.classifier import model as model_mod
    from dlworkshop.classifier import registry

    if args.action in (None, "list"):
        for spec in registry.all_models().values():
            folder = model_mod.model_dir(spec)
            cached = all((folder / a.name).exists() for a in spec.assets)
            yield ModelInfo(
                spec.name,
                spec.title,
                spec.format,
                spec.input_size,
                cached,
                spec.name == registry.DEFAULT_MODEL,
            )
        return
    spec = registry.get(args.name)
    prefix = model_mod.prepare(spec, progress=lambda m: printer.emit(Log(m)))
    yield ModelReady(spec.name, str(prefix.parent))


def cmd_classify(args: argparse.Namespace, printer) -> Iterator[Event]:
    from dlworkshop.classifier import classify, registry

    sources = classify.expand(args.sources)
    if not sources:
        raise UserError("There is nothing to classify: the folders hold no images "
                        f"({', '.join(sorted(classify.IMAGE_SUFFIXES))}).")  # fmt: skip
    events = classify.classify(
        sources, args.model or registry.DEFAULT_MODEL, args.endpoint, args.gpu
    )
    classified = 0
    if args.json or len(sources) < 2 or not sys.stderr.isatty():
        for event in events:
            classified += isinstance(event, classify.Classified)
            yield event
    else:
        from rich.progress import Progress

        with Progress(transient=True, console=printer.console) as bar:
            task = bar.add_task("Classifying", total=len(sources))
            for event in events:
                bar.advance(task)
                classified += isinstance(event, classify.Classified)
                yield event
    if not classified:
        yield Failed(f"Nothing was classified: all {len(sources)} inputs were skipped.",
                     "Each one's reason is above.")  # fmt: skip


def cmd_serve(args: argparse.Namespace, printer) -> Iterator[Event]:
    from dlworkshop.classifier import server

    settings = server.Settings(
        models=tuple(args.model or [server.model_mod.registry.DEFAULT_MODEL]),
        batch_size=args.batch_size,
        max_batch_delay_ms=args.max_batch_delay,
        max_body=args.max_body_mb * 1024 * 1024,
        gpu=args.gpu,
        workers=args.workers,
        pin_workers=args.pin_workers,
        max_queue=args.max_queue,
        header_timeout=args.header_timeout,
        body_timeout=args.body_timeout,
    )
    if settings.workers < 0 or settings.batch_size < 1 or settings.max_queue < 0:
        raise UserError("--workers and --max-queue must be 0 or more, --batch-size 1 or more.")
    for name in settings.models:
        server.model_mod.registry.get(name)  # unknown names fail before anything starts
    yield Log(
        f"Serving {', '.join(settings.models)} on http://{args.host}:{args.port} "
        f"({settings.worker_count()} workers, batch {settings.batch_size}, delay "
        f"{settings.max_batch_delay_ms:g} ms, queue {settings.queue_limit()})"
    )
    if args.owner_pid:
        import os
        import signal

        from dlworkshop.processes import exit_with

        # Started by the app: stop cleanly (SIGTERM) once the app is gone.
        exit_with(args.owner_pid, lambda: os.kill(os.getpid(), signal.SIGTERM))
    if args.management_port:
        yield Log(f"Management API on http://{args.host}:{args.management_port} "
                  "(POST /models?url=NAME, DELETE /models/NAME)")
    server.serve(args.host, args.port, settings, args.log_level, args.management_port)
