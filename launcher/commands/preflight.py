"""`robostack up --dry-run`: what pre-flight would stop and why, and whether `up` would refuse. Stops nothing."""

from __future__ import annotations

import asyncio

from rich.markup import escape

from launcher.commands.context import CommandContext
from launcher.errors import EXIT_ALREADY_RUNNING, EXIT_OK, EXIT_PREFLIGHT_REFUSED
from launcher.hygiene.findings import short_command
from launcher.hygiene.preflight import PreflightPlan, plan_preflight
from launcher.stack.durations import format_duration
from launcher.stack.redaction import Redactor
from launcher.stack.resolved import ResolvedStack


def run_dry_run(ctx: CommandContext, symbols: list[str] | None, *, ignore_zombies: bool = False) -> int:
    """Print the plan; 0 if `up` would proceed, 4 if pre-flight would refuse, 3 if the stack is running."""
    stack = ctx.load(symbols)
    plan = asyncio.run(plan_preflight(stack, ctx.paths(), ignore_zombies=ignore_zombies))
    redactor = Redactor.for_stack(stack)
    for line in describe_plan(plan, stack):
        ctx.console.print(redactor.mask(line), highlight=False, soft_wrap=True)
    if plan.running_supervisor is not None:
        return EXIT_ALREADY_RUNNING
    return EXIT_PREFLIGHT_REFUSED if plan.would_refuse else EXIT_OK


def describe_plan(plan: PreflightPlan, stack: ResolvedStack) -> list[str]:
    """The dry run's lines (rich markup, values escaped)."""
    stack_name = stack.name
    if plan.running_supervisor is not None:
        return [f"stack '{escape(stack_name)}' is already running (supervisor pid {plan.running_supervisor}): "
                "`up` would refuse; see `robostack status`, or `robostack down` first"]
    lines = [f"[bold]dry run[/]: what `robostack up` would do before starting '{escape(stack_name)}' "
             "(nothing is stopped now)"]
    for leftover in plan.leftovers:
        lines.append(f"  would stop  leftover '{escape(leftover.service)}' of an earlier run: "
                     f"pid {', '.join(map(str, leftover.pids))} (recorded in the run state, create time verified; "
                     "stopped the way `down` does)")
    for match in plan.stale:
        spec = stack.services[match.service].spec
        lines.append(f"  would stop  stale '{escape(match.service)}' process pid {match.pid} "
                     f"({escape(short_command(match.command))}): matches '{escape(match.pattern)}' "
                     f"({spec.stop_signal}, SIGKILL after {format_duration(spec.stop_grace)})")
    for note in plan.assessment.notes:
        lines.append(f"  note        {escape(note)}")
    for refusal in [*plan.conflicts, *plan.assessment.refusals]:
        lines.append(f"  [bold red]would refuse[/] {escape(refusal)}")
    if not (plan.leftovers or plan.stale or plan.assessment.notes or plan.assessment.refusals or plan.conflicts):
        lines.append("  nothing to stop, no port held by a foreign process, no zombie sockets")
    verdict = ("[bold red]`up` would refuse (exit 4)[/]" if plan.would_refuse
               else "[green]`up` would proceed[/]")
    lines.append(verdict)
    return lines
