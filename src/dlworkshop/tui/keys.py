"""Each lab's own keys, kept apart from its screen so the app binds them before importing it."""

from __future__ import annotations

# lab id -> (key, the view's method, footer text[, shown in the footer]): keys that act
# on that lab while it is shown; the help lists them all.
LAB_KEYS: dict[str, tuple[tuple, ...]] = {
    "lab1": (("d", "start_deploy", "Deploy"), ("x", "start_delete", "Delete")),
    "lab2": (
        ("b", "start_build", "Build"),
        ("h", "open_shell", "Shell"),
        ("u", "start_push", "Push"),
    ),
    "lab3": (
        ("d", "deploy", "Deploy"),
        ("j", "deploy_jupyter", "Jupyter"),
        ("s", "stop_tasks", "Stop"),
        ("t", "toggle_tunnel", "Tunnel"),
        ("m", "check_mesh", "Mesh"),
        ("l", "toggle_logs", "Logs"),
        ("h", "open_shell", "Shell"),
        # Pausing the log's scrolling matters only while it runs: in the help, not the footer.
        ("f", "toggle_follow", "Pause log", False),
    ),
    "lab4": (
        ("c", "classify_typed", "Classify"),
        ("s", "classify_sample", "Sample cat"),
        ("t", "start_training", "Train"),
        ("o", "stop_training", "Stop training", False),
        ("m", "serve_trained", "Serve the trained model", False),
        ("j", "train_job", "Train job"),
        ("k", "predict_job", "Predict job (ECS)", False),
        ("u", "upload_photos", "Upload photos to the input bucket", False),
        ("x", "stop_job", "Stop the job", False),
        ("g", "get_results", "Get the job's results", False),
    ),
    "cleanup": (
        ("c", "start_cleanup", "Clean up"),
        ("w", "start_dry_run", "What would go"),
        ("v", "start_verify", "Verify"),
    ),
    "appendix": (
        ("f", "factorise", "Factorise"),
        ("d", "distribute", "Distribute"),
        ("x", "stop_distributed", "Stop run"),
    ),
}

# Which class shows each lab ("module:Class" under dlworkshop.tui.screens), imported
# only when the lab is first composed, so start-up does not pay for every screen.
VIEWS: dict[str, str] = {
    "overview": "overview:OverviewView",
    "lab1": "lab1:Lab1View",
    "lab2": "lab2:Lab2View",
    "lab3": "lab3:Lab3View",
    "lab4": "lab4:Lab4View",
    "cleanup": "cleanup:CleanupView",
    "appendix": "appendix:AppendixView",
}
