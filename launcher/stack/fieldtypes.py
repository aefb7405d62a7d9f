"""The value types stack-file fields are made of: durations, ports, hosts, regular expressions.

Shared by the schema (:mod:`launcher.stack.model`) and the Gateway's own fields
(:mod:`launcher.stack.gateway_fields`), so each rule has one home.
"""

from __future__ import annotations

import re
from typing import Annotated

import regex
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from launcher.stack.durations import at_least, parse_duration
from launcher.stack.urls import check_host


class Strict(BaseModel):
    """A stack-file mapping: unknown keys refused, values immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def compiles(pattern: str) -> str:
    """A pydantic after-validator: `pattern` compiles in both engines (or a one-line ValueError)."""
    # Both engines: stale and log patterns run on `regex` (it can time out), and mean what `re` users expect.
    try:
        re.compile(pattern)
        regex.compile(pattern)
    except (re.error, regex.error) as err:
        raise ValueError(f'"{pattern}" is not a valid regular expression: {err}') from err
    return pattern


Duration = Annotated[float, BeforeValidator(parse_duration)]
# Zero makes no sense for these: a timeout of 0 fails every probe, an interval of 0 spins.
PositiveDuration = Annotated[float, BeforeValidator(parse_duration), AfterValidator(at_least(0.001))]
ProbeDuration = Annotated[float, BeforeValidator(parse_duration), AfterValidator(at_least(0.01))]
Port = Annotated[int, Field(ge=1, le=65535, strict=True)]
# Validated per item (not per list or dict) so an error points at the offending line.
Pattern = Annotated[str, AfterValidator(compiles)]
Host = Annotated[str, AfterValidator(check_host)]


def count_per_duration(word: str, pattern: re.Pattern[str], example: str,
                       periods: dict[str, float] | None = None):
    """A parser accepting ``N <word> DURATION`` (like `example`), a plain count, or a mapping.

    The window is left as written for the model's duration type to check (finite, bounded), except
    the words of ``periods`` (``day``: 86400), which become their seconds.
    """
    def parse(value: object) -> object:
        if isinstance(value, bool):
            raise ValueError(f'expected "N {word} DURATION", got {value!r}')
        if isinstance(value, int):
            return {"count": value}
        if isinstance(value, str):
            match = pattern.fullmatch(value)
            if not match:
                shown = value if len(value) <= 40 else value[:40] + "..."
                raise ValueError(f'expected "N {word} DURATION" (like "{example}"), got "{shown}"')
            window = match.group(2)
            return {"count": int(match.group(1)), "window": (periods or {}).get(window.lower(), window)}
        return value

    return parse
