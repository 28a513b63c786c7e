"""A hostile Metrika over loopback: an HTTP server that quotes the request's token back in every way it can.

The server is a real aiohttp application on 127.0.0.1 in a background thread, so the
hooks talk to it exactly as they talk to Metrika. What it answers is a *plan*: a
function of the request (method, path, query and the token it carried) returning an
:class:`Answer`. The builders below make the usual plans: an error body quoting the
token in one place (``errors[].message``, ``error_type``, the top-level ``message``,
split over several fields, a plain-text or HTML page), a success body quoting it in
an uploading's fields, a redirect whose ``Location`` carries it, headers that echo it.

``ENCODINGS`` are the transformations a broken or hostile server may apply to what it
quotes; ``SPELLINGS`` the ways a JSON string literal can be written (a JSON escape is
a spelling, not an encoding: the decoded value is the token itself).
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import html
import json
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import quote

from aiohttp import web

#: Shaped like a Yandex OAuth token (``y0_`` + base64url), long enough for every encoding to matter.
TOKEN = "y0_AgAAAAHostileSecretTokenQx7Kp2Lm9Zr4Tw8Vb3Nc6"
HEADER_LINE = f"Authorization: OAuth {TOKEN}"


def _all_percent(text: str) -> str:
    return "".join(f"%{byte:02X}" for byte in text.encode())


def _fullwidth(text: str) -> str:
    return "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in text)


#: How a server may transform the text it quotes (each maps the token to what the field's *value* holds).
ENCODINGS: dict[str, Callable[[str], str]] = {
    "verbatim": lambda t: t,
    "header line": lambda t: f"Authorization: OAuth {t}",
    "upper": str.upper,
    "lower": str.lower,
    "swapcase": str.swapcase,
    "percent": lambda t: quote(t, safe=""),
    "percent every byte": _all_percent,
    "percent twice": lambda t: quote(quote(t, safe=""), safe=""),
    "html decimal": lambda t: "".join(f"&#{ord(ch)};" for ch in t),
    "html hex": lambda t: "".join(f"&#x{ord(ch):x};" for ch in t),
    "html escaped markup": lambda t: html.escape(f"<b>{t}</b>"),
    "backslash u": lambda t: "".join(f"\\u{ord(ch):04x}" for ch in t),
    "backslash x": lambda t: "".join(f"\\x{byte:02x}" for byte in t.encode()),
    "base64": lambda t: base64.b64encode(t.encode()).decode(),
    "base64url": lambda t: base64.urlsafe_b64encode(t.encode()).decode().rstrip("="),
    "base64 of header": lambda t: base64.b64encode(f"OAuth {t}".encode()).decode(),
    "base64 misaligned": lambda t: "xyz" + base64.b64encode(t.encode()).decode(),
    "hex": lambda t: t.encode().hex(),
    "spaced": lambda t: " ".join(t),
    "dotted": lambda t: ".".join(t),
    "zero width": lambda t: "\u200b".join(t),
    "fullwidth": _fullwidth,
    "reversed": lambda t: t[::-1],
    "inside a sentence": lambda t: f"the token {t} is not valid for counter 12345",
}

#: How a JSON string literal may spell a value (all decode to the same string).
SPELLINGS: dict[str, Callable[[str], str]] = {
    "plain": lambda v: json.dumps(v, ensure_ascii=False),
    "ascii": json.dumps,
    "all escaped": lambda v: '"' + "".join(_u_escape(ch) for ch in v) + '"',
    "every other escaped": lambda v: (
        '"' + "".join(_u_escape(ch) if i % 2 else json.dumps(ch)[1:-1] for i, ch in enumerate(v)) + '"'
    ),
    "punctuation escaped in upper hex": lambda v: (
        '"' + "".join(ch if ch.isalnum() else "\\/" if ch == "/" else f"\\u{ord(ch):04X}" for ch in v) + '"'
    ),
}


def _u_escape(ch: str) -> str:
    code = ord(ch)
    if code > 0xFFFF:
        code -= 0x10000
        return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
    return f"\\u{code:04x}"


@dataclasses.dataclass
class Answer:
    """One HTTP answer of the hostile server."""

    status: int = 200
    body: str | bytes = "{}"
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict)
    content_type: str = "application/json"


@dataclasses.dataclass(frozen=True)
class Seen:
    """What the server saw of one request."""

    method: str
    path: str
    query: Mapping[str, str]
    token: str


Plan = Callable[[Seen], Answer]


def token_of(authorization: str) -> str:
    return authorization.removeprefix("OAuth ").strip()


# -- error bodies -----------------------------------------------------------------------------------

#: Where an error answer puts the quoted text.
ERROR_PLACEMENTS = (
    "errors[].message",
    "errors[].error_type",
    "top-level message",
    "split over two errors",
    "split between error_type and message",
    "plain text body",
    "html page",
)


def error_answer(status: int, placement: str, value: str, spelling: str = "plain") -> Answer:
    """An error answer quoting ``value`` at ``placement``; JSON string literals written per ``spelling``."""
    lit = SPELLINGS[spelling]
    half = len(value) // 2
    if placement == "plain text body":
        return Answer(status, f"upstream error: {value}", content_type="text/plain")
    if placement == "html page":
        page = f"<html><body><h1>{status}</h1><p>Request header <code>{value}</code> refused</p></body></html>"
        return Answer(status, page, content_type="text/html")
    if placement == "errors[].message":
        errors = f'[{{"error_type": "invalid_token", "message": {lit(value)}}}]'
        return Answer(status, f'{{"errors": {errors}, "code": {status}, "message": "denied"}}')
    if placement == "errors[].error_type":
        errors = f'[{{"error_type": {lit(value)}, "message": "denied"}}]'
        return Answer(status, f'{{"errors": {errors}, "code": {status}, "message": "denied"}}')
    if placement == "top-level message":
        return Answer(status, f'{{"code": {status}, "message": {lit(value)}}}')
    if placement == "split over two errors":
        errors = f'[{{"message": {lit(value[:half])}}}, {{"message": {lit(value[half:])}}}]'
        return Answer(status, f'{{"errors": {errors}, "code": {status}}}')
    if placement == "split between error_type and message":
        errors = f'[{{"error_type": {lit(value[:half])}, "message": {lit(value[half:])}}}]'
        return Answer(status, f'{{"errors": {errors}, "code": {status}}}')
    raise ValueError(placement)


# -- success bodies ---------------------------------------------------------------------------------

#: Fields of an uploading a success answer may abuse.
UPLOADING_FIELDS = ("comment", "status", "line_quantity", "source_quantity")


def uploading_object(
    uploading_id: int = 7, *, status: str = "PROCESSED", comment: str = "crm", **fields: Any
) -> dict[str, Any]:
    return {
        "id": uploading_id,
        "status": status,
        "comment": comment,
        "source_quantity": 5,
        "line_quantity": 5,
        "linked_quantity": 4,
        **fields,
    }


def success_answer(
    body: Mapping[str, Any], field: str | None = None, value: str = "", spelling: str = "plain"
) -> Answer:
    """A 200 JSON answer; with ``field``, every object named by it holds ``value`` (spelled per ``spelling``)."""
    text = json.dumps(body)
    if field is not None:
        marker = "\u2603MARK\u2603"
        text = json.dumps(_with_field(body, field, marker), ensure_ascii=False)
        text = text.replace(json.dumps(marker, ensure_ascii=False), SPELLINGS[spelling](value))
    return Answer(200, text)


def _with_field(value: Any, field: str, marker: str) -> Any:
    if isinstance(value, dict):
        changed = {key: _with_field(item, field, marker) for key, item in value.items()}
        if field in value:
            changed[field] = marker
        return changed
    if isinstance(value, list):
        return [_with_field(item, field, marker) for item in value]
    return value


# -- the server -------------------------------------------------------------------------------------


class HostileServer:
    """The loopback server; set :attr:`plan` (or use :meth:`answering`) to decide every answer."""

    def __init__(self) -> None:
        self.plan: Plan = lambda seen: Answer(404, '{"message": "no plan"}')
        self.seen: list[Seen] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def answering(self, plan: Plan) -> HostileServer:
        self.plan = plan
        return self

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        seen = Seen(
            request.method, request.path, dict(request.query), token_of(request.headers.get("Authorization", ""))
        )
        self.seen.append(seen)
        answer = self.plan(seen)
        body = answer.body.encode() if isinstance(answer.body, str) else answer.body
        headers = {"Content-Type": f"{answer.content_type}; charset=utf-8", **answer.headers}
        return web.Response(status=answer.status, body=body, headers=headers)

    def __enter__(self) -> HostileServer:
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()

        def serve() -> None:
            assert self._loop is not None
            asyncio.set_event_loop(self._loop)
            app = web.Application()
            app.router.add_route("*", "/{tail:.*}", self._handle)
            self._runner = web.AppRunner(app, access_log=None)
            self._loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            self._loop.run_until_complete(site.start())
            self.port = self._runner.addresses[0][1]
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=serve, name="hostile-metrika", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the hostile server did not start")
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self._loop is not None and self._runner is not None and self._thread is not None
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


# -- what a test looks at ---------------------------------------------------------------------------


def error_chain(error: BaseException) -> Iterator[BaseException]:
    """The error and everything chained to it (``__cause__`` and ``__context__``), each once."""
    pending, seen = [error], set()
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        pending += [current.__cause__, current.__context__]


def error_texts(error: BaseException) -> list[str]:
    """``str``, ``repr`` and ``args`` of the error and of everything chained to it."""
    return [text for e in error_chain(error) for text in (str(e), repr(e), repr(e.args))]


def leaked(text: str, token: str = TOKEN) -> str | None:
    """How ``text`` shows the token, if it does: verbatim, in another case, or under a common decoding.

    Deliberately simpler than the provider's redaction (it only asks the questions a
    reader would): a hit names the spelling found.
    """
    import urllib.parse

    folded_token = token.casefold()
    candidates = {
        "verbatim": text,
        "percent-decoded": urllib.parse.unquote(urllib.parse.unquote(text)),
        "html-decoded": html.unescape(text),
    }
    for name, candidate in candidates.items():
        if folded_token in candidate.casefold():
            return name
    compact = "".join(ch for ch in text.casefold() if ch.isalnum())
    if "".join(ch for ch in folded_token if ch.isalnum()) in compact:
        return "with separators"
    for name, encoding in ENCODINGS.items():
        encoded = encoding(token)
        if len(encoded) >= 16 and encoded in text:
            return name
    return None
