"""Start order from `depends_on`: dependencies first, otherwise the order of the file.

Pure functions on a mapping ``service -> [dependencies]`` given in file order.
:func:`dependency_problems` finds what makes an order impossible (unknown
names, a service depending on itself, cycles); :func:`start_order` assumes
there are none.
"""

from __future__ import annotations

import difflib
import heapq
from dataclasses import dataclass
from typing import Mapping, Sequence

_LIST_SERVICES_UP_TO = 8


@dataclass(frozen=True)
class DependencyProblem:
    """What is wrong, with the service whose `depends_on` says it and the position of the entry."""

    service: str
    index: int  # position in that service's depends_on list
    message: str


def dependency_problems(depends_on: Mapping[str, Sequence[str]]) -> list[DependencyProblem]:
    """Every unknown, self- or repeated dependency, plus one dependency cycle if there is one."""
    problems: list[DependencyProblem] = []
    for service, dependencies in depends_on.items():
        seen: set[str] = set()
        for index, dependency in enumerate(dependencies):
            message = _entry_problem(service, dependency, seen, depends_on)
            if message:
                problems.append(DependencyProblem(service, index, message))
            seen.add(dependency)
    cycle = find_cycle(depends_on)
    if cycle:
        index = list(depends_on[cycle[0]]).index(cycle[1])
        problems.append(DependencyProblem(cycle[0], index, f"dependency cycle: {' -> '.join(cycle)}"))
    return problems


def _entry_problem(
    service: str, dependency: str, seen: set[str], depends_on: Mapping[str, Sequence[str]]
) -> str | None:
    if dependency == service:
        return f'"{service}" depends on itself'
    if dependency in seen:
        return f'"{dependency}" is listed twice'
    if dependency not in depends_on:
        return f'"{service}" depends on "{dependency}", which is not a service in this file{_hint(dependency, depends_on)}'
    return None


def _hint(name: str, depends_on: Mapping[str, Sequence[str]]) -> str:
    close = difflib.get_close_matches(name, list(depends_on), n=1, cutoff=0.6)
    if close:
        return f' (did you mean "{close[0]}"?)'
    if len(depends_on) <= _LIST_SERVICES_UP_TO:
        return f" (services: {', '.join(depends_on)})"
    return ""


def find_cycle(depends_on: Mapping[str, Sequence[str]]) -> list[str] | None:
    """One dependency cycle as ``[a, b, ..., a]``, starting at its earliest service in file order.

    Unknown names and self-dependencies are ignored here (they are reported on their own).
    """
    file_order = {name: position for position, name in enumerate(depends_on)}
    done: set[str] = set()
    for start in depends_on:
        cycle = _cycle_from(start, depends_on, done)
        if cycle:
            members = cycle[:-1]
            first = min(range(len(members)), key=lambda i: file_order[members[i]])
            rotated = members[first:] + members[:first]
            return rotated + [rotated[0]]
    return None


def _cycle_from(start: str, depends_on: Mapping[str, Sequence[str]], done: set[str]) -> list[str] | None:
    """Depth-first walk without recursion; `done` holds services already proven cycle-free."""
    trail: list[str] = []
    on_trail: set[str] = set()
    stack: list[tuple[str, int]] = [(start, 0)]
    while stack:
        service, next_index = stack.pop()
        if next_index == 0:
            if service in done:
                continue
            trail.append(service)
            on_trail.add(service)
        dependencies = [d for d in depends_on[service] if d in depends_on and d != service]
        if next_index < len(dependencies):
            stack.append((service, next_index + 1))
            dependency = dependencies[next_index]
            if dependency in on_trail:
                return trail[trail.index(dependency):] + [dependency]
            stack.append((dependency, 0))
        else:
            trail.pop()
            on_trail.discard(service)
            done.add(service)
    return None


def start_order(depends_on: Mapping[str, Sequence[str]]) -> tuple[str, ...]:
    """Every service after all its dependencies; among those ready, the one first in the file starts first.

    Raises ValueError if :func:`dependency_problems` would report anything
    (callers check first; the loader turns problems into file:line errors).
    """
    problems = dependency_problems(depends_on)
    if problems:
        raise ValueError(problems[0].message)
    position = {name: index for index, name in enumerate(depends_on)}
    waiting_on = {name: len(dependencies) for name, dependencies in depends_on.items()}
    dependents: dict[str, list[str]] = {name: [] for name in depends_on}
    for name, dependencies in depends_on.items():
        for dependency in dependencies:
            dependents[dependency].append(name)
    ready = [position[name] for name, count in waiting_on.items() if count == 0]
    heapq.heapify(ready)
    names = list(depends_on)
    started: list[str] = []
    while ready:
        name = names[heapq.heappop(ready)]
        started.append(name)
        for dependent in dependents[name]:
            waiting_on[dependent] -= 1
            if waiting_on[dependent] == 0:
                heapq.heappush(ready, position[dependent])
    return tuple(started)
