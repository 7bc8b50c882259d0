"""The Overview: the story, and which AWS the app is talking to."""

from __future__ import annotations

from collections.abc import Iterator

from rich.text import Text
from textual.widgets import Static

from dlworkshop.target import Target
from dlworkshop.tui.screens.lab import LabAction, LabView


class ConnectionPanel(Static):
    """Mode, region, sandbox endpoint and why this mode was chosen."""

    def show_connecting(self, message: str) -> None:
        self.update(Text.assemble(("Connection\n", "bold"), (message, "yellow")))

    def show_target(self, target: Target) -> None:
        text = Text.assemble(("Connection\n", "bold"))
        text.append(f"Mode: {target.label}\nRegion: {target.region}\n")
        if target.endpoint:
            text.append(f"AWS endpoint: {target.endpoint}\n")
        text.append(f"Why: {target.why}", style="dim")
        self.update(text)

    def show_error(self, message: str) -> None:
        self.update(Text.assemble(("Connection\n", "bold"), (message, "red")))


class OverviewView(LabView):
    """The Overview lab: its checks prove the credentials and region work."""

    built = True

    def compose_actions(self) -> Iterator:
        panel = ConnectionPanel(id="connection", classes="panel")
        panel.show_connecting("Connecting…")
        yield panel

    def actions(self) -> list[LabAction]:
        return [
            LabAction(
                "Overview: check the AWS connection",
                "Run the Overview's checkpoints: credentials and region",
                lambda: self.host.run_checks("overview"),
            )
        ]
