"""The base of the sandbox's agents: a thread that brings the world in line with moto."""

from __future__ import annotations

import sys
import threading
import traceback

from dlworkshop.sandbox.runtime import Runtime


class Agent:
    """Calls `sync()` every `interval` seconds, and at once when `kick()`ed.

    An agent's `sync` compares what moto records with what really runs (instances, tasks)
    and acts on the difference, so that it needs no event from moto and catches up after
    anything it missed.
    """

    name = "agent"
    interval = 0.5

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._lock = threading.Lock()  # one sync at a time, from the thread or a kick
        self._thread: threading.Thread | None = None
        self.problem = ""  # the last error, shown by `sandbox status`

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def kick(self) -> None:
        """Sync soon (moto just changed something this agent cares about)."""
        self._wake.set()

    def sync_now(self) -> None:
        """Sync on the caller's thread, for hooks that must see the result at once."""
        with self._lock:
            self._sync_logged()

    def _sync_logged(self) -> None:
        try:
            self.sync()
            self.problem = ""
        except Exception as exc:  # an agent must outlive one bad round
            problem = f"{type(exc).__name__}: {exc}"
            if problem != self.problem:  # once, not every round
                traceback.print_exc(file=sys.stderr)
            self.problem = problem

    def _run(self) -> None:
        while not self._stopping.is_set():
            with self._lock:
                self._sync_logged()
            self._wake.wait(self.interval)
            self._wake.clear()

    def sync(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        """Stop the thread, then undo what the agent started (subclasses extend this)."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(10)

    def status(self) -> dict:
        return {"name": self.name, "problem": self.problem}
