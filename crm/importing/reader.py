"""Read an uploaded CSV file: decoding, dialect, header, rows; refuse what is not one."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

# Signatures of files people pick by mistake instead of a CSV export.
BINARY_SIGNATURES = {
    b"PK\x03\x04": "an Excel workbook or another zip file",
    b"\xd0\xcf\x11\xe0": "an old Excel (.xls) or Word file",
    b"%PDF": "a PDF document",
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
}
DELIMITERS = ",;\t"
MAX_COLUMNS = 100
MAX_HEADER = 100  # characters in a column name


class FileProblem(ValueError):
    """The upload cannot be read as a CSV file; the message says what to do."""


@dataclass(frozen=True)
class Table:
    """A parsed CSV file: its header, data rows and the line each row ends on."""

    header: list[str]
    rows: list[list[str]]
    lines: list[int]


def decode(data: bytes, limit: int) -> str:
    """The file's text (UTF-8, with or without a byte-order mark), or a FileProblem."""
    if not data.strip():
        raise FileProblem("The file is empty: export the sheet as CSV with a header row.")
    if len(data) > limit:
        raise FileProblem(
            f"The file is {len(data) / 1048576:.1f} MB; imports take at most "
            f"{limit // 1048576} MB. Split it into smaller files."
        )
    for signature, kind in BINARY_SIGNATURES.items():
        if data.startswith(signature):
            raise FileProblem(f"This is {kind}, not a CSV file. Save it as CSV (UTF-8) first.")
    if b"\x00" in data[:4096]:
        raise FileProblem(
            "This is not a text file (or it is UTF-16). Save it as CSV (UTF-8) and upload again."
        )
    if b"\x00" in data:  # PostgreSQL's text cannot hold it: refused before any row is read
        line = data[: data.index(b"\x00")].count(b"\n") + 1
        raise FileProblem(
            f"Line {line} holds a NUL character (a zero byte), which no field can store. "
            "Remove it (or save the sheet as CSV UTF-8 again) and upload again."
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise FileProblem(
            f"The file is not UTF-8 text (line {line} has bytes UTF-8 does not allow; "
            "spreadsheets often save Windows-1252 or Latin-1). Save it as "
            '"CSV UTF-8" and upload again.'
        ) from None


def parse(text: str) -> Table:
    """Header and rows of ``text``; the delimiter (comma, semicolon or tab) is detected."""
    sample = text[:8192]
    try:
        delimiter = csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        delimiter = ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    records: list[list[str]] = []
    lines: list[int] = []
    try:
        for row in reader:
            if any(cell.strip() for cell in row):  # blank lines are skipped
                records.append(row)
                lines.append(reader.line_num)
    except csv.Error as exc:
        raise FileProblem(
            f"Line {reader.line_num} is not valid CSV ({exc}); check its quotes."
        ) from None
    if not records:
        raise FileProblem("The file is empty: export the sheet as CSV with a header row.")
    header = [cell.strip() for cell in records[0]]
    if len(header) > MAX_COLUMNS:
        raise FileProblem(f"The file has {len(header)} columns; at most {MAX_COLUMNS} are read.")
    if not all(header) or any(len(name) > MAX_HEADER for name in header):
        raise FileProblem(
            "The first line must name every column (a header row such as name,company,email); "
            "this one has blank or very long names."
        )
    if len(records) == 1:
        raise FileProblem("The file has a header row but no data rows.")
    return Table(header, records[1:], lines[1:])
