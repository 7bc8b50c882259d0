"""The sandbox's CloudWatch Logs: moto's, with the stream-name prefix filter it ignores.

moto's filter_log_events answers every stream of the group when asked for streams
starting with a prefix; AWS answers only those. Following one task's stream needs it.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

from dlworkshop.sandbox.agent import Agent


class CloudWatchLogsAgent(Agent):
    """Wraps moto's filter_log_events; has no loop of its own."""

    name = "logs"

    def __init__(self, runtime) -> None:
        super().__init__(runtime)
        self._original: Callable | None = None

    def sync(self) -> None:
        return None

    def start(self) -> None:
        from moto.logs.responses import LogsResponse

        original = LogsResponse.filter_log_events
        self._original = original

        @functools.wraps(original)
        def filter_log_events(response: Any) -> Any:
            prefix = response._get_param("logStreamNamePrefix")
            if prefix and not response._get_param("logStreamNames"):
                group = response.logs_backend.groups.get(response._get_param("logGroupName"))
                names = [n for n in (group.streams if group else {}) if n.startswith(prefix)]
                if not names:
                    return json.dumps({"events": [], "searchedLogStreams": []})
                plain = response._get_param
                response._get_param = lambda key, *rest: (
                    names if key == "logStreamNames" else plain(key, *rest))  # fmt: skip
            return original(response)

        setattr(LogsResponse, "filter_log_events", filter_log_events)  # noqa: B010

    def stop(self) -> None:
        from moto.logs.responses import LogsResponse

        if self._original is not None:
            setattr(LogsResponse, "filter_log_events", self._original)  # noqa: B010
