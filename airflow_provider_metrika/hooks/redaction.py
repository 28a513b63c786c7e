"""Keeping a connection's secrets (token, client secret, API key) out of everything a server says.

The hooks hand server text to users (exception messages, XCom, log lines). A broken
proxy or a hostile server may quote the request's ``Authorization`` header back, and
not necessarily verbatim: JSON-escaped, percent-encoded, as HTML entities, in base64,
in another case, split into pieces. Replacing the literal token is not enough, so
server text is *withheld* instead of scrubbed: a string is not passed on at all when
any of its decoded forms contains a long enough run of the token's characters.

Decoded forms: Unicode compatibility folding (full-width digits and signs), JSON/Python
backslash escapes, percent-encoding (also ``+`` for space), HTML character references,
base64 / base64url and hex runs, separators dropped (spaces, dots, zero-width
characters), reversal; each applied on top of the others, up to :data:`MAX_DEPTH`
layers. Each form is compared after compatibility folding, case folding and dropping
everything but letters and digits.

What stays open, by nature: a server that transforms the token with its own cipher, or
spreads it over separate fields in pieces shorter than :data:`FRAGMENT` characters.
"""

from __future__ import annotations

import base64
import functools
import html
import re
import unicodedata
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import unquote, unquote_plus

#: A run of this many token characters (letters and digits only, case-folded) in server text withholds the text.
FRAGMENT = 10
#: Decoding layers tried on top of each other (e.g. base64 of a percent-encoded token is two).
MAX_DEPTH = 3
#: Decoded forms examined per string at most (bounds the work on hostile input).
MAX_FORMS = 256
_VERDICTS_KEPT = 4096
#: What the Metrika hook's secret is called (the helpers' default: Metrika is the provider's first vendor).
OAUTH_TOKEN = "OAuth token"


def withheld(secret_name: str) -> str:
    """What a user sees instead of server text that quoted the connection's ``secret_name``."""
    return f"[withheld: the server's text quoted the connection's {secret_name}]"


#: What a user sees instead of server text that quoted Metrika's OAuth token.
WITHHELD = withheld(OAUTH_TOKEN)

_ESCAPE = re.compile(r"\\(?:U([0-9a-fA-F]{8})|[uU]([0-9a-fA-F]{4})|[xX]([0-9a-fA-F]{2})|(.))", re.DOTALL)
_SEPARATORS = re.compile(r"[\s.,:;|\u200b-\u200f\u2060\ufeff]+")
_NOT_ALNUM = re.compile(r"[\W_]+")
_UNREADABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffd]")
_BYTE_ESCAPES = re.compile(r"(?:\\[xX][0-9a-fA-F]{2})+")
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/_-]{12,}={0,2}")
_HEX_RUN = re.compile(r"(?:[0-9a-fA-F]{2}){6,}[0-9a-fA-F]?")


def _unescape(text: str) -> Iterator[str]:
    if "\\" not in text:
        return

    def replace(match: re.Match[str]) -> str:
        code = match.group(1) or match.group(2) or match.group(3)  # escapes in any case: \U0079 too
        if code is None:
            return match.group(4)
        try:
            return chr(int(code, 16))
        except (ValueError, OverflowError):
            return ""

    yield _ESCAPE.sub(replace, text)
    if "\\x" in text or "\\X" in text:  # C-style: a run of \xNN is bytes, UTF-8 beyond ASCII
        yield _BYTE_ESCAPES.sub(_escaped_bytes, text)


def _escaped_bytes(run: re.Match[str]) -> str:
    escapes = run.group()  # \xNN\xNN...: four characters per byte
    return bytes(int(escapes[i + 2 : i + 4], 16) for i in range(0, len(escapes), 4)).decode(errors="replace")


def _percent(text: str) -> Iterator[str]:
    if "%" in text:
        yield unquote(text, errors="replace")
    if "+" in text:
        yield unquote_plus(text, errors="replace")


def _entities(text: str) -> Iterator[str]:
    if "&" in text:
        yield html.unescape(text)


def _base64(text: str) -> Iterator[str]:
    for run in _BASE64_RUN.findall(text):
        standard = run.rstrip("=").replace("-", "+").replace("_", "/")  # base64url read as base64
        for start in range(4):
            chunk = standard[start:]
            chunk = chunk[: len(chunk) - len(chunk) % 4]
            if len(chunk) >= 8:
                yield from _as_text(base64.b64decode(chunk))


def _as_text(raw: bytes) -> Iterator[str]:
    """Decoded bytes read as UTF-8 (a token's ASCII bytes survive any garbage around them)."""
    yield raw.decode("utf-8", errors="replace")


def _hex(text: str) -> Iterator[str]:
    for run in _HEX_RUN.findall(text):
        for start in (0, 1):
            chunk = run[start:]
            chunk = chunk[: len(chunk) - len(chunk) % 2]
            try:
                raw = bytes.fromhex(chunk)
            except ValueError:
                continue
            yield from _as_text(raw)


def _compatibility(text: str) -> Iterator[str]:
    if not text.isascii():
        yield unicodedata.normalize("NFKC", text)


def _compact(text: str) -> Iterator[str]:
    """Without separators, so an encoding spelled out character by character can be read again."""
    compact = _SEPARATORS.sub("", text)
    if compact != text:
        yield compact


def _reversed(text: str) -> Iterator[str]:
    yield text[::-1]


_DECODERS = (_compatibility, _compact, _unescape, _percent, _entities, _base64, _hex, _reversed)


def skeleton(text: str) -> str:
    """Letters and digits only, compatibility-folded and case-folded: how two spellings of one token compare."""
    folded = text.lower() if text.isascii() else unicodedata.normalize("NFKC", text).casefold()
    return _NOT_ALNUM.sub("", folded)


def _readable(text: str) -> bool:
    """Whether a decoded form looks like text (worth decoding further) rather than binary garbage.

    A base64 or hex decode of ordinary text yields mostly unprintable bytes (a quarter is
    allowed: the misaligned start of a run that goes on with a real encoding);
    expanding those again would only multiply forms. They are still checked themselves.
    """
    return len(_UNREADABLE.findall(text)) <= 0.25 * len(text)


def decoded_forms(text: str) -> Iterator[str]:
    """``text`` and what it reads as under up to :data:`MAX_DEPTH` layers of common encodings."""
    seen = {text}
    layer = [text]
    yield text
    for _ in range(MAX_DEPTH):
        following = []
        for form in layer:
            for decode in _DECODERS:
                for decoded in decode(form):
                    if decoded in seen or len(seen) >= MAX_FORMS:
                        continue
                    seen.add(decoded)
                    yield decoded
                    if _readable(decoded):
                        following.append(decoded)
        if not following:
            return
        layer = following


class Redactor:
    """Decides whether server text may be shown, given the secrets the request carried.

    ``secret_name`` says what the secrets are in the placeholder (``"OAuth token"``, ``"API key"``).
    """

    def __init__(self, secrets: Iterable[str], secret_name: str = OAUTH_TOKEN) -> None:
        self.withheld = withheld(secret_name)
        fragments: set[str] = set()
        for secret in secrets:
            shape = skeleton(secret or "")
            if not shape:
                continue
            size = min(FRAGMENT, len(shape))
            fragments.update(shape[i : i + size] for i in range(len(shape) - size + 1))
        self._fragments = frozenset(fragments)
        self._sizes = sorted({len(fragment) for fragment in fragments})
        self._pattern = re.compile("|".join(map(re.escape, sorted(fragments)))) if fragments else None
        self._verdicts: dict[str, bool] = {}  # answers repeat the same strings (statuses, dates)

    def __bool__(self) -> bool:
        return bool(self._fragments)

    def quotes_secret(self, text: str) -> bool:
        """Whether any decoded form of ``text`` holds a run of a secret's characters (either direction).

        The placeholder itself never counts (a secret may share a run with its name, "client-secret-...").
        """
        verdict = self._verdicts.get(text)  # first: a list page repeats its keys and values thousands of times
        if verdict is not None:
            return verdict
        if not self._fragments or (text.isascii() and len(text) < self._sizes[0]):
            return False  # every decoding shortens text: too short to hold a fragment in any form
        original, text = text, text.replace(self.withheld, " ")
        if len(unicodedata.normalize("NFKC", text)) < self._sizes[0]:
            return False
        verdict = any(self._holds_fragment(skeleton(form)) for form in decoded_forms(text))
        if len(self._verdicts) >= _VERDICTS_KEPT:
            self._verdicts.clear()
        self._verdicts[original] = verdict
        return verdict

    def _holds_fragment(self, shape: str) -> bool:
        return self._pattern is not None and self._pattern.search(shape) is not None

    def text(self, text: str) -> str:
        """``text`` itself, or the :attr:`withheld` placeholder when it quotes a secret."""
        return self.withheld if self.quotes_secret(text) else text

    def value(self, value: Any) -> Any:
        """A decoded JSON value with every string that quotes a secret withheld (keys included).

        The strings of one list are also checked together, since code downstream joins them.
        """
        if not self._fragments:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(str(key)): self.value(item) for key, item in value.items()}
        if isinstance(value, list):
            items = [self.value(item) for item in value]
            strings = [item for item in items if isinstance(item, str)]
            if len(strings) > 1 and self.quotes_secret("".join(strings)):
                items = [self.withheld if isinstance(item, str) else item for item in items]
            return items
        return value


@functools.lru_cache(maxsize=32)
def redactor_for(secrets: tuple[str, ...], secret_name: str = OAUTH_TOKEN) -> Redactor:
    """One redactor per set of secrets (a hook sends the same token on every request)."""
    return Redactor(secrets, secret_name)
