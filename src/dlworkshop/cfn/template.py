"""The workshop's template: its text, its parameters and their constraints."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

TEMPLATE = "workshop.yaml"
# Above this a template must go through S3 (CloudFormation's TemplateBody limit).
MAX_BODY = 51_200


def body(name: str = TEMPLATE) -> str:
    """The template's text, shipped as package data."""
    return resources.files("dlworkshop.cfn").joinpath(name).read_text("utf-8")


def _loader():
    import yaml

    class Loader(yaml.SafeLoader):
        """Reads CloudFormation's short-form tags (!Ref, !Sub, ...) as plain values."""

    def any_tag(loader, suffix, node):
        if isinstance(node, yaml.ScalarNode):
            return loader.construct_scalar(node)
        if isinstance(node, yaml.SequenceNode):
            return loader.construct_sequence(node)
        return loader.construct_mapping(node)

    Loader.add_multi_constructor("!", any_tag)
    return Loader


@lru_cache(maxsize=4)
def parsed(name: str = TEMPLATE) -> dict:
    """The template as a dict."""
    import yaml

    return yaml.load(body(name), Loader=_loader())


@dataclass(frozen=True)
class Parameter:
    """One template parameter and its constraints."""

    name: str
    type: str
    default: str | None
    description: str
    allowed_values: tuple[str, ...] = ()
    allowed_pattern: str | None = None
    min_value: float | None = None
    max_value: float | None = None

    @property
    def resolved_by_aws(self) -> bool:
        """SSM-backed parameters that AWS fills in; the learner never sets them."""
        return self.type.startswith("AWS::SSM::Parameter::Value")


def parameters(name: str = TEMPLATE) -> dict[str, Parameter]:
    """The template's parameters by name, in template order."""
    out = {}
    for key, spec in parsed(name).get("Parameters", {}).items():
        default = spec.get("Default")
        out[key] = Parameter(
            key,
            spec["Type"],
            None if default is None else str(default),
            " ".join(str(spec.get("Description", "")).split()),
            tuple(str(v) for v in spec.get("AllowedValues", ())),
            spec.get("AllowedPattern"),
            spec.get("MinValue"),
            spec.get("MaxValue"),
        )
    return out


def validate(values: dict[str, str], name: str = TEMPLATE) -> list[str]:
    """CloudFormation's own parameter checks, run before anything is created.

    Same rules and wording as CloudFormation's ValidationError, so a refused value gets the
    same clear message on real AWS and in the sandbox (whose moto does not check them).
    """
    specs = parameters(name)
    errors = [f"Parameter {k!r} is not in the template." for k in values if k not in specs]
    for key, spec in specs.items():
        value = values.get(key, spec.default)
        if value is None:
            if not spec.resolved_by_aws:
                errors.append(f"Parameter {key!r} must have a value.")
            continue
        if spec.allowed_values and value not in spec.allowed_values:
            errors.append(
                f"Parameter {key!r} must be one of AllowedValues "
                f"({', '.join(spec.allowed_values)}); {value!r} is not."
            )
        if spec.allowed_pattern and not re.fullmatch(spec.allowed_pattern, value):
            errors.append(f"Parameter {key!r} must match pattern {spec.allowed_pattern}; "
                          f"{value!r} does not.")  # fmt: skip
        if spec.type == "Number":
            try:
                number = float(value)
            except ValueError:
                errors.append(f"Parameter {key!r} must be a number; {value!r} is not.")
                continue
            if spec.min_value is not None and number < float(spec.min_value):
                errors.append(f"Parameter {key!r} must be at least {spec.min_value}.")
            if spec.max_value is not None and number > float(spec.max_value):
                errors.append(f"Parameter {key!r} must be at most {spec.max_value}.")
    return errors


def output_keys(name: str = TEMPLATE) -> list[str]:
    """The outputs a complete stack must have."""
    return list(parsed(name).get("Outputs", {}))
