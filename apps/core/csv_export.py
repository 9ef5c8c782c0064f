"""The one CSV writer every export uses: cells a spreadsheet would run as a formula are neutralised.

A cell beginning with =, +, -, @, a tab or a carriage return is a formula to Excel, LibreOffice and
Google Sheets (CSV injection); such a text cell gets a leading apostrophe, which spreadsheets show as
text and hide. Numbers are written as they are.
"""

import csv

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
