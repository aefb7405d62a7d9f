"""`robostack doctor [SERVICE] [--json]`: one verdict per service with its fix, on one screen. Touches nothing."""

from __future__ import annotations

import asyncio
import json

from rich.markup import escape
from rich.table import Table
from rich.text import Text

from launcher.commands.context import CommandContext
from launcher.commands.status import supervisor_view
from launcher.errors import EXIT_OK, EXIT_SERVICE_FAILED
from launcher.hygiene.doctor import ServiceDiagnosis, diagnose_stack, doctor_json

MARKS = {"ok": "[green]✓[/]", "fail": "[red]✗[/]", "warn": "[yellow]![/]", "info": "[dim]·[/]"}


def run_doctor(ctx: CommandContext, service: str | None, as_json: bool) -> int:
    """Diagnose, print (table or JSON), and exit 0 only if every service is ok."""
    stack = ctx.load()
    view = supervisor_view(ctx.paths())  # the supervisor's own trouble: not answering, cannot save its state
    problems = view.problems() if view is not None else []
    diagnoses = asyncio.run(diagnose_stack(stack, ctx.paths(), service))
    if as_json:
        report = _suggesting({**doctor_json(diagnoses), "problems": problems}, ctx.suggest)
        ctx.console.print(json.dumps(report, indent=1), markup=False, highlight=False, soft_wrap=True)
    else:
        for line in problems:
            ctx.console.print(ctx.suggest(line), style="bold red", markup=False, highlight=False, soft_wrap=True)
        ctx.console.print(doctor_table(stack.name, diagnoses, suggest=ctx.suggest))
        ctx.console.print(summary_line(diagnoses), highlight=False)
    fine = not problems and all(diagnosis.ok for diagnosis in diagnoses)
    return EXIT_OK if fine else EXIT_SERVICE_FAILED


def _suggesting(value, suggest):
    """Every text of a JSON-like report with its suggested commands naming the stack file as the user did."""
    if isinstance(value, str):
        return suggest(value)
    if isinstance(value, list):
        return [_suggesting(item, suggest) for item in value]
    if isinstance(value, dict):
        return {key: _suggesting(item, suggest) for key, item in value.items()}
    return value


def doctor_table(stack_name: str, diagnoses: list[ServiceDiagnosis], suggest=str) -> Table:
    """Per service: the verdict line, the fix, then one line per check (suggested commands through `suggest`)."""
    table = Table.grid(padding=(0, 1))
    table.title = f"robostack doctor: stack '{escape(stack_name)}'"
    table.title_justify = "left"
    table.add_column(no_wrap=True, style="bold")
    table.add_column(no_wrap=True)
    table.add_column(no_wrap=True)
    table.add_column(overflow="fold")
    for diagnosis in diagnoses:
        verdict = diagnosis.verdict
        style = "green" if diagnosis.ok else "bold red"
        table.add_row(escape(diagnosis.name), MARKS["ok" if diagnosis.ok else "fail"],
                      f"[{style}]{escape(verdict.code)}[/]", escape(suggest(verdict.detail)))
        if verdict.fix:
            table.add_row("", "", "[bold]fix[/]", escape(suggest(verdict.fix)))
        for check in diagnosis.checks:  # one line each, so the whole stack fits on one screen
            table.add_row("", MARKS[check.status], f"[dim]{escape(check.name)}[/]",
                          Text(suggest(check.detail), no_wrap=True, overflow="ellipsis"))
        table.add_row("", "", "", "")
    return table


def summary_line(diagnoses: list[ServiceDiagnosis]) -> str:
    failing = [d.name for d in diagnoses if not d.ok]
    if not failing:
        return "[green]" + ("1 service ok" if len(diagnoses) == 1 else f"all {len(diagnoses)} services ok") + "[/]"
    return f"[bold red]{len(failing)} of {len(diagnoses)} need attention:[/] {escape(', '.join(failing))}"
