"""Lab 4's checkpoint: the endpoint classifies the sample cat as a cat."""

from __future__ import annotations

from dlworkshop.checkpoints import CheckResult
from dlworkshop.context import Context
from dlworkshop.errors import UserError

CHOSEN = "classify_endpoint"  # state.services key for the endpoint the learner picked


def endpoint(ctx: Context) -> str:
    """The endpoint Lab 4 talks to: Lab 3's SSH tunnel while it is open (the container on
    ECS), else the one chosen on screen, else the local model server."""
    from dlworkshop.classifier import service
    from dlworkshop.remote import forwards

    tunnel = forwards.current(ctx)
    if tunnel:
        return tunnel["endpoint"]
    for name in (CHOSEN, service.NAME):
        record = ctx.state.services.get(name)
        if record and record.get("endpoint"):
            return record["endpoint"]
    raise UserError(
        "No model server endpoint yet: open Lab 4 and start one (sandbox), or give the "
        "endpoint that Lab 3's SSH tunnel forwards (real AWS)."
    )


def check_sample_cat(ctx: Context) -> CheckResult:
    """POST the pinned sample cat to the endpoint and read the verdict."""
    import httpx

    from dlworkshop.classifier.registry import DEFAULT_MODEL
    from dlworkshop.classifier.samples import sample_cat

    url = endpoint(ctx)
    photo = sample_cat()
    try:
        resp = httpx.post(f"{url}/predictions/{DEFAULT_MODEL}", content=photo.read_bytes(),
                          timeout=60)  # fmt: skip
    except httpx.HTTPError as exc:
        return CheckResult.fail(f"{url} did not answer: {exc}")
    if resp.status_code != 200:
        return CheckResult.fail(f"{url} answered HTTP {resp.status_code}: {resp.text[:200]}")
    body = resp.json()
    if body.get("is_cat"):
        return CheckResult.ok(f"{url} says cat ({body['cat_probability']:.1%})")
    top = body.get("top_k", [{}])[0].get("label", "?")
    return CheckResult.fail(f"{url} says the sample cat is not a cat (it saw: {top})")


def check_serving(ctx: Context) -> CheckResult:
    """Recheck: the endpoint that classified the cat still answers /ping."""
    from dlworkshop.classifier.service import ping

    try:
        url = endpoint(ctx)
    except UserError as exc:
        return CheckResult.fail(str(exc))
    if not ping(url, timeout=3.0):
        return CheckResult.fail(f"the model server at {url} no longer answers")
    return CheckResult.ok(f"{url} answers")
