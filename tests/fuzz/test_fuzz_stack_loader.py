"""The stack loader on arbitrary input: a ResolvedStack or one StackFileError/UsageError, never anything else.

Three kinds of input: arbitrary text, arbitrary YAML documents, and stack-shaped documents
whose every value is arbitrary. Plus two properties of pieces the loader relies on: the
linear word splitter agrees with shlex, and masking never lets a known secret through.
"""

from __future__ import annotations

import shlex
import string

import yaml
from hypothesis import given, strategies as st

from launcher.errors import StackFileError, UsageError
from launcher.stack.loader import load_stack
from launcher.stack.redaction import MASK, Redactor
from launcher.stack.words import split_words

SERVICE_KEYS = ["command", "cwd", "env", "ports", "depends_on", "health", "startup_timeout", "stop_signal",
                "stop_grace", "stale", "external", "restart", "backoff", "max_restarts", "on_failure",
                "on_dependency_restart", "dependency_grace"]
HEALTH_KEYS = ["ib_api", "tcp", "http", "websocket", "log", "exec", "notify", "start_period", "interval",
               "timeout", "retries"]

scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-10**6, max_value=10**6),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30),
                    st.sampled_from(["SIG_BLOCK", "SIGTERM", ".inf", "2s", "-1s", "5 within 10m", "${X}", "{symbols}",
                                     "http://127.0.0.1:1/", "not a url", ".*", "bash", "svc\n", "[", "9" * 50]))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.text(max_size=10), inner, max_size=4)),
                      max_leaves=12)
health = st.dictionaries(st.sampled_from(HEALTH_KEYS), values, max_size=4)
service = st.dictionaries(st.sampled_from(SERVICE_KEYS), st.one_of(values, health), max_size=6)
stack_documents = st.fixed_dictionaries(
    {"services": st.dictionaries(st.sampled_from(["gateway", "websocket", "trader", "svc\n", "a b", ""]), service,
                                 max_size=3)},
    optional={"name": values, "symbols": values, "env_file": values, "generated_secrets": values})


def loads_or_refuses(folder, text: str) -> None:
    path = folder / "stack.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        load_stack(path, environ={"X": "1"})
    except (StackFileError, UsageError) as error:
        message = str(error)
        assert message and "Traceback" not in message
        assert message.splitlines()[0].startswith(str(path)) or isinstance(error, UsageError), message


@given(text=st.text(max_size=400))
def test_any_text(tmp_path, text):
    loads_or_refuses(tmp_path, text)


@given(document=values)
def test_any_yaml_document(tmp_path, document):
    loads_or_refuses(tmp_path, yaml.safe_dump(document, allow_unicode=True))


@given(document=stack_documents)
def test_stack_shaped_documents_with_arbitrary_values(tmp_path, document):
    loads_or_refuses(tmp_path, yaml.safe_dump(document, allow_unicode=True))


@given(depth=st.integers(min_value=1, max_value=3000), opener=st.sampled_from(["[", "{a: ", "- "]))
def test_deep_nesting(tmp_path, depth, opener):
    closer = {"[": "]", "{a: ": "}", "- ": ""}[opener]
    loads_or_refuses(tmp_path, "services: " + opener * depth + "x" + closer * depth + "\n")


@given(text=st.text(alphabet=st.sampled_from(list("ab \t\n\r'\"\\$é")), max_size=40))
def test_word_splitting_agrees_with_shlex(text):
    try:
        expected = shlex.split(text)
    except ValueError as error:
        expected = ("error", str(error))
    try:
        got = split_words(text)
    except ValueError as error:
        got = ("error", str(error))
    assert got == expected


secrets_text = st.text(alphabet=string.ascii_letters + string.digits + "-_.:/@!", min_size=4, max_size=20)


@given(secret=secrets_text, before=st.text(max_size=30), after=st.text(max_size=30))
def test_a_known_secret_never_survives_masking(secret, before, after):
    masked = Redactor.of({secret}).mask(before + secret + after)
    assert secret not in masked or secret in MASK


@given(text=st.text(max_size=200))
def test_masking_any_text_never_fails_and_is_stable(text):
    once = Redactor.of({"hunter2"}).mask(text)
    assert Redactor.of({"hunter2"}).mask(once) == once
