"""`robostack doctor`: the seeds' whole manual diagnosis, per service, with no side effects.

Facts are collected once for the services asked about (:mod:`launcher.hygiene.facts`),
then each gets a verdict with its fix (:mod:`launcher.hygiene.verdicts`) and its
checklist (:mod:`launcher.hygiene.checks`). Doctor never signals, restarts or stops
anything, and works whether or not the stack is up, external services included.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from launcher.errors import UsageError
from launcher.hygiene.checks import Check, build_checks
from launcher.hygiene.facts import collect_facts
from launcher.hygiene.verdicts import OK, Verdict, judge
from launcher.stack.redaction import Redactor
from launcher.stack.resolved import ResolvedStack
from launcher.state.paths import StatePaths


@dataclass(frozen=True)
class ServiceDiagnosis:
    """One service's verdict and checklist."""

    name: str
    external: bool
    verdict: Verdict
    checks: list[Check]

    @property
    def ok(self) -> bool:
        return self.verdict.code == OK

    def masked(self, redactor: Redactor) -> "ServiceDiagnosis":
        """This diagnosis with every secret hidden: command lines and log lines it quotes may hold some."""
        verdict = replace(self.verdict, detail=redactor.mask(self.verdict.detail), fix=redactor.mask(self.verdict.fix))
        checks = [replace(check, detail=redactor.mask(check.detail), data=redactor.mask_data(check.data))
                  for check in self.checks]
        return replace(self, verdict=verdict, checks=checks)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "verdict": self.verdict.code, "detail": self.verdict.detail,
                "fix": self.verdict.fix, "checks": [check.to_json() for check in self.checks]}


def chosen_services(stack: ResolvedStack, service: str | None) -> list[str]:
    """Every service in start order, or just `service` (a UsageError names the known ones)."""
    if service is None:
        return list(stack.start_order)
    if service not in stack.services:
        known = ", ".join(stack.services)
        raise UsageError(f"no service named {service!r} in {stack.path.name} (services: {known})")
    return [service]


async def diagnose_stack(stack: ResolvedStack, paths: StatePaths, service: str | None = None) -> list[ServiceDiagnosis]:
    """Diagnose the stack's services (or one of them); secrets are masked in everything it says."""
    facts = await collect_facts(stack, paths, chosen_services(stack, service))
    redactor = Redactor.for_stack(stack)
    return [ServiceDiagnosis(f.name, f.external, judge(f), build_checks(f)).masked(redactor) for f in facts]


def doctor_json(diagnoses: list[ServiceDiagnosis]) -> dict[str, Any]:
    """``{"services": [{"name", "verdict", "detail", "fix", "checks": [...]}]}``."""
    return {"services": [diagnosis.to_json() for diagnosis in diagnoses]}
