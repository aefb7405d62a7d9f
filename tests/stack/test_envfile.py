"""The env_file parser on text."""

from __future__ import annotations

import pytest

from launcher.errors import StackFileError
from launcher.stack.envfile import parse_env_file


def test_assignments_comments_exports_and_quotes():
    text = "\n".join(
        [
            "# a comment",
            "",
            "PLAIN=value",
            "export EXPORTED = spaced value   # trailing comment",
            "HASH=a#b",
            "DOUBLE=\"line\\none \\\"quoted\\\" $HOME\"  # comment",
            "SINGLE='raw \\n $VAR'",
            "EMPTY=",
            "EQUALS=a=b",
            "PLAIN=later wins",
        ]
    )
    assert parse_env_file(text, ".env") == {
        "PLAIN": "later wins",
        "EXPORTED": "spaced value",
        "HASH": "a#b",
        "DOUBLE": 'line\none "quoted" $HOME',
        "SINGLE": "raw \\n $VAR",
        "EMPTY": "",
        "EQUALS": "a=b",
    }


@pytest.mark.parametrize(
    "line, expected",
    [
        ("JUST_A_WORD", '.env:2: expected KEY=VALUE, got "JUST_A_WORD"'),
        ("1BAD=x", '.env:2: "1BAD" is not a variable name'),
        ("A=\"open", ".env:2: A: the double quote is never closed"),
        ("A='open", ".env:2: A: the single quote is never closed"),
        ("A=\"x\" y", '.env:2: A: unexpected "y" after the closing quote'),
    ],
)
def test_malformed_lines_name_their_line(line, expected):
    with pytest.raises(StackFileError) as caught:
        parse_env_file(f"OK=1\n{line}\n", ".env")
    assert str(caught.value) == expected
