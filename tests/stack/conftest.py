"""Fixtures for the stack-file tests: write a real file in tmp_path and load it from there."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from launcher.errors import StackFileError
from launcher.stack.loader import load_stack
from launcher.stack.resolved import ResolvedStack


class StackFiles:
    """Writes files into a temporary folder that is also the working directory."""

    def __init__(self, root: Path):
        self.root = root

    def write(self, text: str, name: str = "stack.yaml") -> Path:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return Path(name)  # relative, as a user would type it

    def load(self, text: str, **kwargs) -> ResolvedStack:
        return load_stack(self.write(text), environ=kwargs.pop("environ", {}), **kwargs)

    def error(self, text: str, **kwargs) -> StackFileError:
        with pytest.raises(StackFileError) as caught:
            self.load(text, **kwargs)
        return caught.value


@pytest.fixture
def stack_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> StackFiles:
    monkeypatch.chdir(tmp_path)
    return StackFiles(tmp_path)
