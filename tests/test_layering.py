"""The layering the architecture promises: the services and the shared packages never import the launcher."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.helpers import REPO

SERVICE_ENTRY_POINTS = ("services.gateway_sim.__main__", "services.websocket_server.__main__",
                        "services.runner_async.__main__")


@pytest.mark.parametrize("module", [*SERVICE_ENTRY_POINTS, "ibproto.wire", "stackkit.clock", "stackkit.symbols",
                                    "stackkit.durations", "stackkit.times", "stackkit.notify"])
def test_module_does_not_import_the_launcher(module):
    code = (f"import importlib, sys; importlib.import_module({module!r}); "
            "bad = sorted(m for m in sys.modules if m == 'launcher' or m.startswith('launcher.')); "
            "print(','.join(bad))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"{module} imports {result.stdout.strip()}"
