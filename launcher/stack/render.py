"""`robostack config`: the resolved stack as YAML, defaults shown, secrets hidden.

What is printed is what will run: argv after substitution (``python`` already
replaced by the interpreter's path), absolute folders, the environment the
stack adds, and every setting including defaults, with durations spelled
back as ``2s`` / ``250ms``. Secrets are replaced by ``***`` wherever they
occur: env values whose name looks secret, and the same values wherever
else they were substituted (a ``--password ${TWS_PASSWORD}`` argument).
"""

from __future__ import annotations

from typing import Any, Annotated, get_args, get_origin

import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from launcher.stack.durations import format_duration, parse_duration
from launcher.logwriter.policy import RotationPolicy, rotation_policy
from launcher.stack.gateway_fields import LoginBudget
from launcher.stack.model import Health, PROBE_KINDS, RestartLimit
from launcher.stack.redaction import NO_SECRETS, Redactor
from launcher.stack.sizes import format_size, parse_size
from launcher.stack.resolved import ResolvedService, ResolvedStack

# Shown from the resolved service instead of the file's spelling.
_RESOLVED_FIELDS = ("command", "cwd", "env")


def render_stack(stack: ResolvedStack) -> str:
    """The YAML text of the resolved stack, safe to paste into a bug report."""
    document = {
        "name": stack.name,
        "file": str(stack.path),
        "symbols": list(stack.symbols),
        "start_order": list(stack.start_order),
        "services": {name: _service(service) for name, service in stack.services.items()},
        "logs": _log_policy(rotation_policy(stack.logs)),
    }
    if stack.http is not None:
        document["http"] = _settings(stack.http)
    for name in stack.services:  # each service's log rotation as it applies (its own, else the stack's)
        document["services"][name]["logs"] = _log_policy(stack.log_policy(name))
    if stack.alerts is not None:
        from launcher.alerts.config import describe_alerts

        document["alerts"] = describe_alerts(stack.alerts)
    hidden = Redactor.for_stack(stack).mask_data(document)
    return yaml.dump(hidden, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=120)


def _log_policy(policy: RotationPolicy) -> dict[str, Any]:
    return {"max_size": format_size(policy.max_size), "keep": policy.keep}


def _service(service: ResolvedService) -> dict[str, Any]:
    result: dict[str, Any] = {}
    if service.argv is not None:
        result["command"] = NO_SECRETS.mask_argv(service.argv)  # `--password VALUE`: hidden by shape too
    result["cwd"] = str(service.cwd)
    result["env"] = dict(service.env)  # secret-looking names are hidden with the whole document
    for name, value in _settings(service.spec).items():
        if name not in _RESOLVED_FIELDS:
            result[name] = value
    if service.probe_argv is not None:
        result["health"]["exec"]["command"] = NO_SECRETS.mask_argv(service.probe_argv)
    return result


def _settings(model: BaseModel) -> dict[str, Any]:
    """A model's fields as plain values, durations formatted, only the configured probe kind."""
    result: dict[str, Any] = {}
    for name, info in type(model).model_fields.items():
        value = getattr(model, name)
        if isinstance(model, Health) and name in PROBE_KINDS and value is None:
            continue
        result[name] = _plain(value, info)
    return result


def _plain(value: Any, info: FieldInfo) -> Any:
    if isinstance(value, RestartLimit):
        return f"{value.count} within {format_duration(value.window)}"
    if isinstance(value, LoginBudget):
        return f"{value.count} per {format_duration(value.window)}"
    if isinstance(value, BaseModel):
        return _settings(value)
    if isinstance(value, float) and _is_duration(info):
        return format_duration(value)
    if isinstance(value, int) and _parsed_by(info, parse_size):
        return format_size(value)
    if isinstance(value, list):
        return [_settings(item) if isinstance(item, BaseModel) else item for item in value]
    if isinstance(value, dict):
        return dict(value)
    return value


def _is_duration(info: FieldInfo) -> bool:
    """A field typed `Duration` (or `Duration | None`): parsed by parse_duration."""
    return _parsed_by(info, parse_duration)


def _parsed_by(info: FieldInfo, parser: Any) -> bool:
    """A field whose type (or `type | None`) is parsed by `parser` (a `Duration`, a `Size`)."""
    if any(getattr(item, "func", None) is parser for item in info.metadata):
        return True
    return any(
        get_origin(member) is Annotated and any(getattr(item, "func", None) is parser for item in member.__metadata__)
        for member in get_args(info.annotation)
    )


class _Dumper(yaml.SafeDumper):
    """Short lists of plain values on one line (``ports: [4002]``), everything else in block style."""

    def represent_list(self, data: list[Any]) -> yaml.Node:  # type: ignore[override]
        flow = all(not isinstance(item, (dict, list)) for item in data)
        return self.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_Dumper.add_representer(list, _Dumper.represent_list)
