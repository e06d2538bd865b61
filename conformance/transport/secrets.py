"""The one place that keeps the API key out of everything the suite writes or prints.

A hostile target can hand the key back in many spellings: as it is, JSON-escaped (``\\u0073k-...``, which
``json.loads`` turns back into the key inside an id, a curl line, a cleanup line), percent-encoded,
HTML-escaped, or base64-encoded at any offset of a longer base64 string. Masking each writer's text with
``str.replace`` of the plain key (what the suite did, in four slightly different helpers) missed all of them.

So there is one function, ``mask``, used on answers as they are received (``mask_bytes``, before any check
sees them) and again on every line, message, report, attachment and cassette the suite writes, after any
decoding; and ``shown`` (masked, then control and bidi characters made visible) for everything a target chose
that reaches a terminal. The keys to mask are those given to the call plus those ``register``-ed for the
process (the run's key), so a writer that is not handed the key (a finding's curl line) still masks it.
"""

from __future__ import annotations

import base64
import functools
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["MASK", "MASKED_AUTH", "hide_credentials", "is_secret_name", "mask", "mask_bytes", "register", "shown",
           "visible"]

MASK = "***"  # the one marker of a secret taken out: in output, reports, Allure results and cassettes
MASKED_AUTH = f"Bearer {MASK}"  # the run's key in an Authorization header, as every record of a request shows it
# A header or query parameter whose name speaks of keys, tokens, secrets, auth, cookies, sessions, organisations or
# projects carries a secret: never recorded, never printed
_SECRET_NAME = re.compile(r"auth|key|token|secret|passw|cookie|session|signature|credential|organization|project", re.I)
# What a credential looks like in a target's answer (an OpenAI key, a bearer token)
_CREDENTIAL = re.compile(rb"sk-[A-Za-z0-9_\-]{20,}|Bearer [A-Za-z0-9_\-.=:+/]{20,}")


def is_secret_name(name: str) -> bool:
    """Whether a header or query parameter of that name carries a secret (``Authorization``, ``api-key``,
    ``OpenAI-Organization``, ``Set-Cookie``, ``access_token``...)."""
    return bool(_SECRET_NAME.search(name))


def hide_credentials(data: bytes, keep: bytes = b"") -> bytes:
    """``data`` with anything shaped like a credential masked, except what ``keep`` holds (the suite's own
    generated text, echoed: changing it would change the verdict)."""
    return _CREDENTIAL.sub(lambda m: m.group(0) if m.group(0) in keep else MASK.encode(), data)
MIN_LENGTH = 4  # shorter "keys" are not masked: replacing every "abc" would garble the output, not protect a key
_BASE64_MIN = 12  # base64 spellings are masked for keys at least this long (shorter runs would match by chance)
_registered: set[str] = set()


def register(secret: str | None) -> None:
    """Mask ``secret`` in everything this process writes from now on (the run's API key)."""
    if secret and len(secret) >= MIN_LENGTH:
        _registered.add(secret)
        _pattern.cache_clear()


def _char(ch: str) -> str:
    """A regex for one character of a key in any spelling a target might use: itself, a JSON escape (``\\u0073``,
    ``\\/``), percent-encoded (each UTF-8 byte), or an HTML character reference."""
    forms = [re.escape(ch), re.escape("\\" + ch)]
    code = ord(ch)
    if code <= 0xFFFF:
        forms.append(f"\\\\u{code:04x}")
    forms.append("".join(f"%{b:02x}" for b in ch.encode("utf-8")))
    forms += [f"&#0*{code};", f"&#x0*{code:x};"]
    return "(?:" + "|".join(forms) + ")"


def _base64_forms(secret: str) -> set[str]:
    """The runs of base64 text that encode ``secret`` wherever it sits in the encoded data: at each of the three
    byte offsets, the characters that depend on the key's bytes alone (standard and URL-safe alphabets)."""
    raw = secret.encode("utf-8")
    if len(raw) < _BASE64_MIN:
        return set()
    forms = set()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw + b"\0\0").decode("ascii")
        start = -(-8 * offset // 6)  # the first character with no bit of the padding before
        end = 8 * (offset + len(raw)) // 6  # the last one with no bit of the padding after
        run = encoded[start:end]
        forms |= {run, run.replace("+", "-").replace("/", "_")}
    return forms


_ESCAPES = ("\\", "%", "&#")  # an escaped spelling has one of these; without them, only literal forms can match


@dataclass(frozen=True)
class _Pattern:
    """One regex (and its bytes twin) for every spelling of every secret, and the literal forms (lowercased)
    that let most texts skip it: the regex cannot start with a literal, so it costs about 40 ms a MiB, while
    looking for a few literals costs almost nothing."""

    text: re.Pattern[str]
    data: re.Pattern[bytes]
    literals: tuple[str, ...]

    def needed(self, lowered: str) -> bool:
        return any(marker in lowered for marker in _ESCAPES) or any(form in lowered for form in self.literals)


@functools.lru_cache(maxsize=64)
def _pattern(secrets: frozenset[str]) -> _Pattern | None:
    alternatives: list[str] = []
    literals: set[str] = set()
    for secret in sorted(secrets, key=len, reverse=True):
        alternatives.append("".join(_char(ch) for ch in secret))
        forms = _base64_forms(secret)
        alternatives += [re.escape(form) for form in sorted(forms, key=len, reverse=True)]
        literals |= {form.lower() for form in (secret, *forms)}
    if not alternatives:
        return None
    text = "|".join(alternatives)
    # Case-insensitive for the hex digits of the escapes; a key with its case changed is leaked all the same.
    # Base64 is case-sensitive, but masking a case-changed base64 run too is harmless.
    return _Pattern(re.compile(text, re.IGNORECASE), re.compile(text.encode("utf-8"), re.IGNORECASE),
                    tuple(sorted(literals)))


def _secrets(extra: Iterable[str | None]) -> frozenset[str]:
    return frozenset(_registered | {s for s in extra if s and len(s) >= MIN_LENGTH})


def mask(text: str, *secrets: str | None, replacement: str = MASK) -> str:
    """``text`` with every spelling of each key (``secrets`` and the registered ones) replaced."""
    pattern = _pattern(_secrets(secrets))
    if pattern is None or not text or not pattern.needed(text.lower()):
        return text
    return pattern.text.sub(replacement, text)


def mask_bytes(data: bytes, *secrets: str | None, replacement: bytes = MASK.encode()) -> bytes:
    """``mask`` for the raw bytes of an answer (as received, before any decoding)."""
    pattern = _pattern(_secrets(secrets))
    if pattern is None or not data or not pattern.needed(data.decode("latin-1").lower()):
        return data
    return pattern.data.sub(replacement, data)


def shown(text: str, *secrets: str | None) -> str:
    """``text`` as the terminal, a log or a failure message may show it: keys masked, then control, format
    (bidi overrides) and C1 characters made visible (``visible``)."""
    return visible(mask(text, *secrets))


def visible(text: str) -> str:
    """Control, format (bidi overrides, zero-width) and separator characters shown as ``\\u{...}``: what a
    target sent cannot disguise itself in a terminal, a log or a report."""
    out = []
    for ch in text:
        if ch in "\n\t":
            out.append(ch)
        elif unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"):
            out.append(f"\\u{{{ord(ch):04x}}}")
        else:
            out.append(ch)
    return "".join(out)
