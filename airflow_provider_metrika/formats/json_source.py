"""Reading a CDP JSON body (``{"orders": [...]}`` or a bare list) from a file, one row at a time.

``json.load`` reads a whole file into memory and recurses once per nesting level: a 100 MB string
costs hundreds of MiB, a 100,000-deep nesting a ``RecursionError``, and a body of the wrong shape
a ``TypeError``, none of them naming the file. This reader walks the root list element by element
(only one element is held as text), checks each element's size, string lengths and nesting depth
before ``json.loads`` sees it, and reports every problem as a
:class:`~airflow_provider_metrika.exceptions.MetrikaValidationError` naming the file, the row (the
element's 1-based index in the list) and the field where it is known.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator
from typing import IO, Any

from airflow_provider_metrika.exceptions import MetrikaValidationError
from airflow_provider_metrika.formats.checker import MAX_RECORD_CHARS
from airflow_provider_metrika.formats.report import Problem, shown

#: One element (a contact or an order) may take twice a CSV record's cap: JSON spells out every key
#: and quotes every string, so the fullest documented row (about 32,000 characters as CSV, see
#: ``checker.MAX_RECORD_CHARS``) takes well under twice as much.
MAX_ELEMENT_CHARS = 2 * MAX_RECORD_CHARS
#: No single documented value is longer than a CSV record may be.
MAX_STRING_CHARS = MAX_RECORD_CHARS
#: The documented body nests five levels deep (body, list, order, goals, goal); ``attribute_values``
#: may add a few. Far below the interpreter's recursion limit.
MAX_DEPTH = 16
#: The biggest JSON file an upload operator reads. Metrika documents no limit for the JSON body, but it
#: travels as one request and is held as Python objects (several times its size) while it is converted
#: and sent; 16 MiB is some 50,000 orders. Bigger batches go to the CSV endpoints, which stream.
MAX_JSON_SOURCE_BYTES = 16 << 20
#: The longest root key read before giving up on it.
MAX_KEY_CHARS = 256
READ_CHARS = 1 << 16

# A complete string (the unrolled loop reads long strings fast) with the colon that makes it a
# key; a lone quote when the string does not end in the buffer; or a bracket.
_TOKEN = re.compile(r'"[^"\\]*+(?:\\.[^"\\]*+)*+"(\s*+:)?|"|[\[\]{}]', re.DOTALL)
_SPACE = re.compile(r"\s*+")
_SCALAR_END = re.compile(r"[\s,\]}]")
_TYPE_BY_FIRST = {'"': "a string", "t": "a boolean", "f": "a boolean", "n": "null", "{": "an object", "[": "a list"}


class JsonSourceError(MetrikaValidationError):
    """A JSON body that cannot be read on; ``problem`` says where (file, row = element index, field)."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        super().__init__(str(problem), problems=[str(problem)], total=1)


def json_type_name(first_char: str) -> str:
    return _TYPE_BY_FIRST.get(first_char, "a number")


class JsonRowReader:
    """Iterate the elements of a CDP JSON body read from ``stream``; see the module docstring."""

    def __init__(self, stream: IO[bytes], file_name: str, root: str) -> None:
        self._stream = stream
        self.file_name = file_name
        self._root = root
        self._decoder = codecs.getincrementaldecoder("utf-8")("strict")
        self._buffer = ""
        self._pos = 0
        self._bytes_read = 0
        self._eof = False
        self._started = False
        self._field_key = ""  # the row field being read (its key as written), for messages

    # -- errors ----------------------------------------------------------------------------
    def _fail(self, message: str, row: int | None = None, field: str | None = None) -> None:
        raise JsonSourceError(Problem(self.file_name, row, field, message))

    @property
    def _field(self) -> str | None:
        """The key of the row field being read, decoded (only for a message: keys are read as written)."""
        return str(json.loads(self._field_key)) if self._field_key else None

    # -- the buffer --------------------------------------------------------------------------
    def _more(self) -> bool:
        """Read the next piece of text into the buffer; False at end of file."""
        if self._eof:
            return False
        data = self._stream.read(READ_CHARS)
        if isinstance(data, str):
            self._fail("the file was opened in text mode; open it in binary mode ('rb')")
        try:
            text = self._decoder.decode(data, final=not data)
        except UnicodeDecodeError as exc:
            self._fail(f"not valid UTF-8 at byte {self._bytes_read + exc.start:,}; save the file as UTF-8")
        self._bytes_read += len(data)
        if not self._started and text:
            self._started = True
            text = text.removeprefix("\ufeff")
        if self._pos > READ_CHARS:
            self._buffer, self._pos = self._buffer[self._pos :], 0
        self._buffer += text
        self._eof = not data
        return bool(data) or bool(text)

    def _peek(self) -> str:
        """The next character that is not white space ('' at end of file), consuming the white space."""
        while True:
            self._pos = _SPACE.match(self._buffer, self._pos).end()
            if self._pos < len(self._buffer):
                return self._buffer[self._pos]
            if not self._more():
                return ""

    def _expect(self, allowed: str, what: str, row: int | None = None) -> str:
        char = self._peek()
        if not char or char not in allowed:
            found = "the end of the file" if not char else shown(self._buffer[self._pos : self._pos + 20])
            self._fail(f"not valid JSON: expected {what}, found {found}", row)
        self._pos += 1
        return char

    # -- values ----------------------------------------------------------------------------
    def _value_text(self, row: int | None) -> str:
        """The text of the JSON value at the read position (consumed), checked for size, strings and depth."""
        first = self._peek()
        if not first:
            self._fail("not valid JSON: the file ends where a value should be", row)
        self._field_key = ""
        while True:
            start = self._pos  # stays put while the value is scanned (the buffer may drop what is before it)
            end = self._scan(start, first, row)
            if end is not None:
                self._pos = end
                return self._buffer[start:end]
            if len(self._buffer) - start > MAX_ELEMENT_CHARS:
                self._fail(
                    f"an element longer than {MAX_ELEMENT_CHARS:,} characters; it is not read further", row, self._field
                )
            if not self._more():
                self._fail("not valid JSON: the file ends inside this element", row, self._field)

    def _scan(self, start: int, first: str, row: int | None) -> int | None:
        """Where the value starting at ``start`` ends, or None when the buffer ends first."""
        buffer = self._buffer
        if first not in "[{":
            if first == '"':
                match = _TOKEN.match(buffer, start)
                if match is None or match.group() == '"':
                    return None
                self._check_string(match, row, None)
                return start + len(match.group()) - len(match.group(1) or "")
            end = _SCALAR_END.search(buffer, start)
            return end.start() if end else (len(buffer) if self._eof else None)
        depth = 0
        self._field_key = ""
        for match in _TOKEN.finditer(buffer, start):
            token = match.group()
            if token[0] == '"':
                if token == '"':
                    return None  # a string that does not end in the buffer
                self._check_string(match, row, self._field)
                if match.group(1) and depth == 1:
                    self._field_key = buffer[match.start() : match.start(1)]
                continue
            if token in "[{":
                depth += 1
                if depth > MAX_DEPTH:
                    self._fail(f"nested more than {MAX_DEPTH} levels deep; Metrika's rows nest a few", row, self._field)
            else:
                depth -= 1
                if depth == 0:
                    return match.end()
        return None

    def _check_string(self, match: re.Match[str], row: int | None, field: str | None) -> None:
        length = match.end() - match.start() - len(match.group(1) or "") - 2
        if length > MAX_STRING_CHARS:
            self._fail(f"a string of {length:,} characters; the limit is {MAX_STRING_CHARS:,}", row, field)

    def _parse(self, text: str, row: int | None) -> Any:
        try:
            return json.loads(text)
        except ValueError as exc:
            message = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
            self._fail(f"not valid JSON: {message}", row)

    # -- the body --------------------------------------------------------------------------
    def __iter__(self) -> Iterator[Any]:
        shape = f'{{"{self._root}": [...]}}'
        first = self._peek()
        if first == "[":
            yield from self._elements()
        elif first == "{":
            self._pos += 1
            yield from self._object_body(shape)
        elif not first:
            self._fail(f"the file is empty; expected {shape}")
        else:
            self._fail(f"the file holds {json_type_name(first)}; expected {shape}")
        if self._peek():
            self._fail("not valid JSON: more data after the body")

    def _object_body(self, shape: str) -> Iterator[Any]:
        found = False
        if self._peek() == "}":
            self._fail(f'no "{self._root}" key; expected {shape}')
        while True:
            key_text = self._key()
            self._expect(":", "':' after a key")
            if key_text != self._root:
                self._fail(f"unexpected key {shown(key_text)}; the body holds only {shape}")
            if found:
                self._fail(f'"{self._root}" is given twice')
            found = True
            kind = self._peek()
            if kind != "[":
                self._fail(f'"{self._root}" must be a list of objects, not {json_type_name(kind)}')
            yield from self._elements()
            if self._expect(",}", "',' or '}'") == "}":
                return

    def _key(self) -> str:
        if self._peek() != '"':
            self._expect('"', "a key in quotes")
        while True:
            match = _TOKEN.match(self._buffer, self._pos)
            if match is not None and match.group() != '"':
                break
            if len(self._buffer) - self._pos > MAX_KEY_CHARS or not self._more():
                self._fail("not valid JSON: a key that does not end")
        end = match.end() - len(match.group(1) or "")
        key = self._parse(self._buffer[self._pos : end], None)
        self._pos = end
        return key

    def _elements(self) -> Iterator[Any]:
        """The elements of the list whose '[' is at the read position, with their 1-based index."""
        self._pos += 1
        if self._peek() == "]":
            self._pos += 1
            return
        row = 0
        while True:
            row += 1
            yield self._parse(self._value_text(row), row)
            if self._expect(",]", "',' or ']' after an element", row) == "]":
                return


def iter_json_rows(stream: IO[bytes], file_name: str, root: str) -> Iterator[Any]:
    """Each element of the body's ``root`` list (or of a bare list), parsed, in order."""
    return iter(JsonRowReader(stream, file_name, root))
