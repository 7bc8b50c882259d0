"""Lab 1: deploy the workshop's CloudFormation stack and watch it come up."""

from __future__ import annotations

from rich.markup import escape
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.suggester import SuggestFromList
from textual.widgets import (
    Button,
    Collapsible,
    Input,
    Label,
    RichLog,
    Select,
    Static,
    Switch,
)

from dlworkshop import checkpoints
from dlworkshop.cfn import template
from dlworkshop.tui.screens.lab import LabAction, LabView
from dlworkshop.tui.widgets.checkpoints import CheckpointList
from dlworkshop.tui.widgets.resources import ResourceTree

NEW_KEY = "__new__"
IMPORT_PREFIX = "import:"
PUBLIC_KEYS = ("~/.ssh/id_ed25519.pub", "~/.ssh/id_ecdsa.pub", "~/.ssh/id_rsa.pub")


class FormDefaults(Message):
    """Key pairs in the region, and the detected source CIDR."""

    def __init__(self, keys: list[str], cidr: str | None, how: str) -> None:
        super().__init__()
        self.keys, self.cidr, self.how = keys, cidr, how


class StackEvent(Message):
    """One event from the deploy or delete stream."""

    def __init__(self, event: object) -> None:
        super().__init__()
        self.event = event


class StackFinished(Message):
    def __init__(self, ok: bool) -> None:
        super().__init__()
        self.ok = ok


class CostShown(Message):
    """The estimate for the form's configuration (and the spend so far, if deployed)."""

    def __init__(self, serial: int, text: Text) -> None:
        super().__init__()
        self.serial, self.text = serial, text


class Lab1View(LabView):
    """A form, a Deploy action, a live resource tree, then the outputs."""

    built = True

    def compose(self) -> ComposeResult:
        params = template.parameters()
        yield Static(self.lab.label, classes="lab-title")
        with Horizontal(classes="lab-body"):
            with VerticalScroll(classes="l1-form"):
                with Collapsible(title="Guide", collapsed=True, classes="guide-box"):
                    yield self.guide()
                yield Label("Stack name")
                yield Input(self.host.state.stack_name, id="l1-stack")
                yield Label("Region")
                yield Input(id="l1-region", placeholder="e.g. us-east-1")
                yield Label("Key pair")
                yield Select([], id="l1-key", prompt="Loading key pairs…", allow_blank=True)
                yield Label("Instance type")
                yield Input(
                    params["InstanceType"].default or "",
                    id="l1-type",
                    suggester=SuggestFromList(params["InstanceType"].allowed_values),
                )
                yield Label("Instance count")
                yield Input(params["InstanceCount"].default or "2", id="l1-count", type="integer")
                with Horizontal(classes="l1-switches"):
                    yield Label("Spot")
                    yield Switch(False, id="l1-spot")
                    yield Label("GPU")
                    yield Switch(False, id="l1-gpu")
                # What this configuration costs, updated as the type, count or Spot change.
                yield Static("", id="l1-cost", classes="dim")
                yield Label("Source CIDR (who may reach SSH)")
                yield Input(id="l1-cidr", placeholder="detecting your address…")
                yield Static("", id="l1-cidr-note", classes="dim")
                with Horizontal(classes="l1-switches"):
                    yield Label("Open 8080, 8888")
                    yield Switch(False, id="l1-ports")
                with Horizontal(classes="l1-buttons"):
                    yield Button("Deploy (d)", id="l1-deploy", variant="primary")
                    yield Button("Delete (x)", id="l1-delete", variant="error")
            with VerticalScroll(classes="l1-progress"):
                yield Static("Resources", classes="panel-title")
                yield ResourceTree(id="l1-resources")
                yield Static("", id="l1-failure", classes="failure")
                yield RichLog(id="l1-log", wrap=True, markup=True, max_lines=200, min_width=20)
                yield Static("Outputs", classes="panel-title")
                # Each value on its own line, wrapped: URIs and ARNs are longer than the pane.
                yield Static("", id="l1-outputs", classes="outputs")
                yield CheckpointList(checkpoints.for_lab(self.lab.id), classes="checkpoints")
                yield Button("Run checks (r)", id=f"run-{self.lab.id}", classes="run-checks")

    def on_mount(self) -> None:
        self.import_key: str | None = None
        self.show_outputs({})
        self.query_one("#l1-failure").display = False
        self._loaded = False
        self._defaults_ready = False
        self._deploy_when_ready = False
        self._cost_serial = 0
        self.update_cost()

    def on_show(self) -> None:
        if not self._loaded and self.host.target is not None:
            self._loaded = True
            self.query_one("#l1-region", Input).value = self.host.target.region
            self._load_defaults()
            self.update_cost()

    # ----- cost -----------------------------------------------------------------------
    @on(Input.Changed, "#l1-type")
    @on(Input.Changed, "#l1-count")
    @on(Switch.Changed, "#l1-spot")
    def update_cost(self, event: object = None) -> None:
        """Estimate the form's configuration again (off the UI: prices may come from AWS)."""
        self._cost_serial += 1
        params = {
            "InstanceType": self.query_one("#l1-type", Input).value.strip(),
            "InstanceCount": self.query_one("#l1-count", Input).value.strip(),
            "UseSpot": str(self.query_one("#l1-spot", Switch).value).lower(),
        }
        self._estimate(self._cost_serial, params)

    @work(thread=True, group="lab1-cost")
    def _estimate(self, serial: int, params: dict[str, str]) -> None:
        from dlworkshop.aws import cost
        from dlworkshop.aws import stack as ops

        ctx = self.host.ctx
        guess = cost.estimate(ctx, params)
        text = Text()
        if guess.lines[0][1] <= 0:  # the instances: an unknown type has no price
            text.append(f"No price known for {params['InstanceType'] or 'that type'}.")
        else:
            text.append(f"≈ ${guess.per_hour:.2f}/hour, ${guess.workshop:.2f} for a "
                        f"{guess.hours:g}-hour workshop", style="bold")  # fmt: skip
            text.append(f"\n{guess.source}")
        if ctx is not None:
            try:
                description = ops.describe(ctx, self.query_one("#l1-stack", Input).value.strip()
                                           or ctx.state.stack_name)  # fmt: skip
                if description is not None:
                    spent = cost.stack_spent(ctx, description)
                    text.append(f"\nSpent so far ≈ ${spent.dollars:.2f} "
                                f"({spent.hours:.1f} h)", style="bold")  # fmt: skip
                    if spent.billed:
                        text.append(f"\n{spent.billed}")
            except Exception:  # no spend line is better than a wrong one
                pass
        self.post_message(CostShown(serial, text))

    def on_cost_shown(self, message: CostShown) -> None:
        if message.serial == self._cost_serial:  # an older estimate arriving late is dropped
            self.query_one("#l1-cost", Static).update(message.text)

    def connected(self) -> None:
        if self.display:  # shown while the app was still connecting
            self.on_show()

    def actions(self) -> list[LabAction]:
        return [
            LabAction("Lab 1: deploy the stack", "Create or update the workshop's stack",
                      self.start_deploy),
            LabAction("Lab 1: delete the stack", "Delete the stack and its data",
                      self.start_delete),
        ]  # fmt: skip

    @work(thread=True, group="lab1-form")
    def _load_defaults(self) -> None:
        from dlworkshop.aws import keypairs, network
        from dlworkshop.errors import explain

        try:
            keys = keypairs.list_names(self.ctx)
        except Exception as exc:
            self.app.call_from_thread(self.app.notify, explain(exc), severity="error")
            keys = []
        cidr, how = network.default_source_cidr(self.ctx)
        self.post_message(FormDefaults(keys, cidr, how))

    def on_form_defaults(self, message: FormDefaults) -> None:
        stack = self.query_one("#l1-stack", Input).value or "dlworkshop"
        saved = self.host.state.key_name
        from pathlib import Path

        options = [(f"Create new: {stack}-key", NEW_KEY)] + [(k, k) for k in message.keys]
        options += [(f"Import {p}", f"{IMPORT_PREFIX}{p}") for p in PUBLIC_KEYS
                    if Path(p).expanduser().exists()]  # fmt: skip
        select = self.query_one("#l1-key", Select)
        select.set_options(options)
        select.value = saved if saved in message.keys else NEW_KEY
        cidr_box = self.query_one("#l1-cidr", Input)
        if message.cidr and not cidr_box.value:
            cidr_box.value = message.cidr
        self.query_one("#l1-cidr-note", Static).update(message.how)
        self._defaults_ready = True
        if self._deploy_when_ready:  # asked for (from the palette) before the form was filled
            self._deploy_when_ready = False
            self.start_deploy()

    @on(Input.Changed, "#l1-cidr")
    def _cidr_changed(self, event: Input.Changed) -> None:
        from dlworkshop.aws.network import cidr_problem

        value = event.value.strip()
        if not value:
            return
        note = self.query_one("#l1-cidr-note", Static)
        if problem := cidr_problem(value):
            note.update(f"[b red]{escape(problem)}[/]")
        elif value.endswith("/0"):
            note.update("[b red]A /0 opens SSH to the whole internet; Deploy asks first.[/]")
        else:
            note.update("")

    @on(Switch.Changed, "#l1-ports")
    def _ports_changed(self, event: Switch.Changed) -> None:
        if event.value:
            self.app.notify(
                "The model server (no sign-in) and Jupyter will take plain HTTP from the "
                "Source CIDR. The labs reach both through SSH tunnels without this.",
                title="Open 8080, 8888",
                severity="warning",
            )

    # ----- deploying ------------------------------------------------------------------
    def form(self) -> tuple[str, str, dict[str, str]]:
        """(stack, region, template parameters) from the form."""
        stack = self.query_one("#l1-stack", Input).value.strip() or "dlworkshop"
        region = self.query_one("#l1-region", Input).value.strip()
        key = self.query_one("#l1-key", Select).value
        self.import_key = str(key).removeprefix(IMPORT_PREFIX) if str(key).startswith(
            IMPORT_PREFIX) else None  # fmt: skip
        if key in (NEW_KEY, Select.BLANK, None):
            key_name = f"{stack}-key"
        elif self.import_key:
            key_name = f"{stack}-imported"
        else:
            key_name = str(key)
        params = {
            "KeyName": key_name,
            "InstanceType": self.query_one("#l1-type", Input).value.strip(),
            "InstanceCount": self.query_one("#l1-count", Input).value.strip(),
            "UseSpot": str(self.query_one("#l1-spot", Switch).value).lower(),
            "UseGpu": str(self.query_one("#l1-gpu", Switch).value).lower(),
            "SourceCidr": self.query_one("#l1-cidr", Input).value.strip(),
            "OpenServicePorts": str(self.query_one("#l1-ports", Switch).value).lower(),
        }
        return stack, region, params

    @on(Button.Pressed, "#l1-deploy")
    def _deploy_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.start_deploy()

    @on(Button.Pressed, "#l1-delete")
    def _delete_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.start_delete()

    def _reset_progress(self) -> None:
        self.query_one(ResourceTree).clear()
        self.query_one("#l1-failure").display = False
        self.query_one("#l1-log", RichLog).clear()
        self.show_outputs({})

    def start_deploy(self) -> None:
        if self.host.ctx is None:
            self.app.notify("Still connecting; try again in a moment.", severity="warning")
            return
        if not self._defaults_ready:
            # The key pairs and the learner's address are still being looked up: an empty
            # SourceCidr would be refused. Deploy as soon as the form is filled.
            self._deploy_when_ready = True
            self.on_show()
            return
        stack, region, params = self.form()
        target = self.host.target
        if region and target is not None and region != target.region:
            try:
                self.host.switch_region(region)
            except Exception as exc:
                from dlworkshop.errors import explain

                self.app.notify(explain(exc), title="Region", severity="error")
                return
        self._reset_progress()
        self._deploy(stack, params)

    def start_delete(self) -> None:
        if self.host.ctx is None:
            return
        stack, _, _ = self.form()

        def answered(yes: bool | None) -> None:
            if yes:
                self._reset_progress()
                self._delete(stack)

        from dlworkshop.tui.screens.confirm import Confirm

        self.app.push_screen(
            Confirm(f"Delete the stack {stack}, its buckets' contents and its instances?",
                    "Delete", "Keep"),
            answered,
        )  # fmt: skip

    def _relay(self, events) -> None:
        """Post each event to the screen; any failure is shown, never raised."""
        from dlworkshop.errors import explain
        from dlworkshop.events import Failed

        ok = True
        try:
            for event in events:
                ok = ok and not isinstance(event, Failed)
                self.post_message(StackEvent(event))
        except Exception as exc:
            ok = False
            self.post_message(StackEvent(Failed(explain(exc))))
        self.post_message(StackFinished(ok))

    @work(thread=True, group="work-lab1", exclusive=True)
    def _deploy(self, stack: str, params: dict[str, str]) -> None:
        self._relay(self._deploy_events(stack, params))

    @work(thread=True, group="work-lab1", exclusive=True)
    def _delete(self, stack: str) -> None:
        from dlworkshop.aws import stack as ops

        self._relay(ops.delete(self.ctx, stack))

    def _deploy_events(self, stack: str, params: dict[str, str]):
        """The shared deploy flow, its questions asked in dialogs."""
        from pathlib import Path

        from dlworkshop.aws import deploy_flow

        def confirm(changes) -> bool:
            self.post_message(StackEvent(changes))
            return self.ask(f"Apply these {len(changes.changes)} changes to {stack}?",
                            "Apply", "Cancel")  # fmt: skip

        public = Path(self.import_key).expanduser() if self.import_key else None
        yield from deploy_flow.deploy(self.ctx, stack, params, self.ask, None, public,
                                      confirm)  # fmt: skip

    def show_outputs(self, outputs: dict[str, str]) -> None:
        """The stack's outputs: each name, then its value on a line of its own."""
        self.outputs = dict(outputs)
        text = Text()
        for key, value in outputs.items():
            text.append(f"{key}\n", style="bold")
            text.append(f"  {value}\n")
        text.rstrip()
        box = self.query_one("#l1-outputs", Static)
        box.update(text if outputs else Text("None yet.", style="dim"))

    # ----- showing events -------------------------------------------------------------
    def on_stack_event(self, message: StackEvent) -> None:
        from dlworkshop.aws.keypairs import KeyPairReady
        from dlworkshop.aws.stack import (
            ChangeSet,
            ContainerInstances,
            StackDeleted,
            StackDone,
            StackPlan,
        )
        from dlworkshop.aws.stack_events import FailureReason, ResourceEvent
        from dlworkshop.events import Failed, Log

        event = message.event
        log = self.query_one("#l1-log", RichLog)
        if isinstance(event, ResourceEvent):
            self.query_one(ResourceTree).update_resource(
                event.stack, event.logical_id, event.resource_type, event.status, event.reason
            )
        elif isinstance(event, FailureReason):
            failure = self.query_one("#l1-failure", Static)
            failure.update(f"First failure: {event.logical_id} ({event.resource_type}): "
                           f"{event.reason}")  # fmt: skip
            failure.display = True
        elif isinstance(event, Failed):
            failure = self.query_one("#l1-failure", Static)
            failure.update(f"{event.message}\n{event.hint}".strip())
            failure.display = True
            self.app.notify(event.message, title="Lab 1", severity="error", timeout=12)
        elif isinstance(event, StackDeleted):
            # Not a failure of the lab: the learner asked for it, and nothing is left.
            self.query_one(ResourceTree).clear(f"The stack {event.stack} was deleted; "
                                               "nothing of it is left.")  # fmt: skip
            self.show_outputs({})
            log.write(event.render_text())
        elif isinstance(event, StackDone):
            self.show_outputs(event.outputs)
            log.write(event.render_text().splitlines()[0])
        elif isinstance(event, Log):
            log.write(("[yellow]" if event.level == "warning" else "") + event.message)
        elif isinstance(event, KeyPairReady | StackPlan | ChangeSet | ContainerInstances):
            log.write(event.render_text())

    def on_stack_finished(self, message: StackFinished) -> None:
        self.update_cost()  # the spend so far starts (or ends) with the stack
        self.host.refresh_subtitle()  # the stack this deploy made or reused
        self.host.run_checks(self.lab.id)  # a real check of what the deploy claims
