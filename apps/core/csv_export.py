"""The one CSV writer every export uses: cells a spreadsheet would run as a formula are neutralised.

A cell beginning with =, +, -, @, a tab or a carriage return is a formula to Excel, LibreOffice and
Google Sheets (CSV injection); such a text cell gets a leading apostrophe, which spreadsheets show as
text and hide. Numbers are written as they are.
"""

import csv
import io
from collections.abc import Iterable, Iterator

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value):
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


class SafeWriter:
    def __init__(self, buffer):
        self._writer = csv.writer(buffer)

    def writerow(self, row) -> None:
        self._writer.writerow([neutralise(cell) for cell in row])

    def writerows(self, rows) -> None:
        for row in rows:
            self.writerow(row)


def writer(buffer) -> SafeWriter:
    return SafeWriter(buffer)


def stream(rows: Iterable, *, rows_per_chunk: int = 500) -> Iterator[str]:
    """`rows` as CSV text in chunks, for a StreamingHttpResponse: a large export is never held whole."""
    buffer = io.StringIO()
    safe = SafeWriter(buffer)
    for number, row in enumerate(rows, start=1):
        safe.writerow(row)
        if number % rows_per_chunk == 0:
            yield _drain(buffer)
    yield _drain(buffer)


def _drain(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text
