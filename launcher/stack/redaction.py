"""Which values are secrets, and hiding them in everything robostack shows or writes.

The rest of robostack calls one thing: a :class:`Redactor` (``Redactor.for_stack(stack)``
once a stack is loaded, ``Redactor.from_environment(env)`` where only an environment is
known, as at spawn) and its ``mask(text)`` / ``mask_argv(argv)`` / ``mask_data(value)``.
It hides, in this order:

* the known secret values: values of secret-looking variables the stack used (env_file,
  env, substituted ``${VAR}``, robostack's generated per-run tokens), wherever they
  occur; values shorter than four characters only when they are a whole word, since
  "1" also occurs in "4001";
* by shape, whatever the variable was called: the password in ``scheme://user:password@``
  (URLs and DSNs), the credential after ``Bearer`` / ``Basic``, the value of an option
  whose name looks secret (``--password VALUE``, ``--api-key=VALUE``, ``-pin 1234``), and
  of ``NAME=VALUE`` / ``"name": "value"`` pairs whose name looks secret.

A name looks secret when one of its words (split at ``_``, ``-``, ``.`` and camelCase)
contains PASSWORD, PASSWD, PASSPHRASE, SECRET, TOKEN, CREDENTIAL, COOKIE, AUTH or SESSION,
ends in PASS, PWD, PW or KEY, or is PIN. Erring towards hiding is fine: an innocent
value shown as ``***`` costs a look at the file, a leaked password costs an account. A few
shell and desktop variables (PWD, SSH_AUTH_SOCK, XDG_SESSION_ID...) name no secret.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass

TYPE_CHECKING = False  # typing itself costs every command its import
if TYPE_CHECKING:
    from typing import Any, Iterable, Sequence
    from launcher.stack.resolved import ResolvedStack

MASK = "***"
_SECRET_INSIDE = ("PASSWORD", "PASSWD", "PASSPHRASE", "SECRET", "TOKEN", "CREDENTIAL", "COOKIE", "AUTH", "SESSION")
_SECRET_ENDINGS = ("PASS", "PWD", "PW", "KEY")
_SECRET_WORDS = ("PIN",)
# Variables every shell or desktop session sets whose names only look secret.
_KNOWN_HARMLESS = frozenset({
    "PWD", "OLDPWD", "SSH_AUTH_SOCK", "XDG_SESSION_ID", "XDG_SESSION_TYPE", "XDG_SESSION_CLASS",
    "XDG_SESSION_DESKTOP", "DESKTOP_SESSION", "DBUS_SESSION_BUS_ADDRESS", "SESSION_MANAGER", "GPG_AGENT_INFO",
})
# A secret this short also occurs by chance inside other values ("1" in "4001"); mask it only whole.
_SHORTEST_MASKED_INSIDE = 4

_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
_URL_PASSWORD = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]*://[^\s:/?#@]*:)(?P<secret>[^\s/?#@]+)(?P<tail>@)")
# HTTP credentials. "Basic" also starts sentences, so only a base64-looking word after it counts.
_AUTH_SCHEME = re.compile(r"(?P<head>\b[Bb]earer[ \t]+)(?P<secret>[A-Za-z0-9._~+/=-]{6,})"
                          r"|(?P<head2>\bBasic[ \t]+)(?P<secret2>(?=[A-Za-z0-9+/]*[0-9+/A-Z])[A-Za-z0-9+/]{8,}={0,2})")
_OPTION = re.compile(r"""(?P<head>(?<![\w-])--?(?P<name>[A-Za-z][A-Za-z0-9_.-]*)(?:=|[ \t]+))"""
                     r"""(?P<secret>"[^"]*"|'[^']*'|(?!-)[^\s"']+)""")
_ASSIGNMENT = re.compile(r"(?P<head>(?<![\w.-])(?P<name>[A-Za-z_][A-Za-z0-9_.-]*)=)(?P<secret>\"[^\"]*\"|'[^']*'|[^\s\"',;&]+)")
_JSON_PAIR = re.compile(r'(?P<head>"(?P<name>[A-Za-z_][A-Za-z0-9_.-]*)"\s*:\s*)(?P<secret>"(?:[^"\\]|\\.)*")')
# "IB_TOKEN: value" as YAML or a log line writes it; only variable-style names (upper case), since
# "session: started" in a log line is prose, not a credential.
_COLON_PAIR = re.compile(r"(?P<head>(?<![\w.-])(?P<name>[A-Z_][A-Z0-9_]*):[ \t]+)(?P<secret>\"[^\"]*\"|'[^']*'|[^\s\"',;&]+)")
_BY_NAME = (_OPTION, _ASSIGNMENT, _JSON_PAIR, _COLON_PAIR)


@functools.lru_cache(maxsize=4096)  # pure; asked for the same few keys on every masked document
def looks_secret(name: str) -> bool:
    """True if a variable or option name looks like it holds a password, token, key or credential."""
    if name.upper() in _KNOWN_HARMLESS:
        return False
    for word in (word.upper() for word in _WORDS.findall(name)):
        if any(marker in word for marker in _SECRET_INSIDE) or word.endswith(_SECRET_ENDINGS) \
                or word in _SECRET_WORDS:
            return True
    return False


@dataclass(frozen=True)
class Redactor:
    """Hides secrets in text, argument lists and JSON-like data; see the module's doc for the rule."""

    secrets: tuple[str, ...] = ()  # longest first, so a secret containing another is hidden whole

    @classmethod
    def of(cls, secrets: Iterable[str]) -> "Redactor":
        return cls(tuple(sorted({secret for secret in secrets if secret}, key=len, reverse=True)))

    @classmethod
    def for_stack(cls, stack: "ResolvedStack") -> "Redactor":
        """The redactor for everything about a loaded stack (its secret values plus the shapes)."""
        return cls.of(stack.secret_values)

    @classmethod
    def from_environment(cls, environment: Mapping[str, str]) -> "Redactor":
        """Secrets known from an environment alone: the values of its secret-looking variables.

        Values shorter than four characters are left to the shapes: in a whole
        environment they are too often innocent words.
        """
        return cls.of(value for name, value in environment.items()
                      if looks_secret(name) and len(value) >= _SHORTEST_MASKED_INSIDE)

    def with_secrets(self, secrets: Iterable[str]) -> "Redactor":
        return Redactor.of((*self.secrets, *secrets))

    def mask(self, text: str) -> str:
        """`text` with every known secret and every secret-shaped value replaced by ``***``."""
        if not text:
            return text
        for secret in self.secrets:
            if text == secret:
                return MASK
            if len(secret) >= _SHORTEST_MASKED_INSIDE:
                text = text.replace(secret, MASK)
            elif secret in text:
                text = re.sub(rf"(?<![\w.-]){re.escape(secret)}(?![\w.-])", MASK, text)
        text = _URL_PASSWORD.sub(lambda m: m["head"] + MASK + m["tail"], text)
        text = _AUTH_SCHEME.sub(lambda m: (m["head"] or m["head2"]) + MASK, text)
        for pattern in _BY_NAME:
            text = pattern.sub(_mask_if_secret_name, text)
        return text

    def mask_argv(self, argv: Sequence[str]) -> list[str]:
        """Each argument masked; the argument after a secret-looking option (``--password X``) hidden whole."""
        masked: list[str] = []
        hide_next = False
        for argument in argv:
            if hide_next and not argument.startswith("-"):
                masked.append(MASK)
                hide_next = False
                continue
            hide_next = bool(re.fullmatch(r"--?[A-Za-z][A-Za-z0-9_.-]*", argument)) and looks_secret(argument)
            masked.append(self.mask(argument))
        return masked

    def mask_data(self, value: Any) -> Any:
        """A copy of JSON-like data with every string masked and the value of every secret-looking key hidden."""
        if isinstance(value, str):
            return self.mask(value)
        if isinstance(value, Mapping):
            return {key: MASK if isinstance(key, str) and looks_secret(key) and isinstance(item, str) and item
                    else self.mask_data(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.mask_data(item) for item in value]
        return value


def _mask_if_secret_name(match: re.Match[str]) -> str:
    if not looks_secret(match["name"]):
        return match.group(0)
    secret = match["secret"]
    quote = secret[0] if secret[:1] in ("'", '"') and len(secret) > 1 and secret[-1] == secret[0] else ""
    return f"{match['head']}{quote}{MASK}{quote}"


NO_SECRETS = Redactor()
