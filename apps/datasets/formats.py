"""Readers for dataset files: CSV, JSONL and CoNLL (BIO).

Each reader takes a binary stream and yields, in file order, either a `ParsedRecord`
or a `Problem` naming the line (the CoNLL reader may end with a `Notice` of what it
converted). Readers never hold the whole file: they go line by line, so memory stays
flat whatever the file size. Checking a record against the project (labels, entity
types) is the caller's job.
"""

import codecs
import csv
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from apps.projects.kinds.ner import spans_from_tokens


@dataclass(slots=True)
class ParsedRecord:
    line: int
    text: str
    label: str = ""
    entities: list | None = None
    metadata: dict = field(default_factory=dict)
    split: str = ""


@dataclass(slots=True)
class Problem:
    line: int
    message: str


def _decoded_lines(stream: Iterable[bytes], problems: list[Problem]) -> Iterator[str]:
    """Decode UTF-8 line by line; a bad line is recorded as a problem and replaced, not fatal."""
    for number, raw in enumerate(stream, start=1):
        if number == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8) :]
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            problems.append(
                Problem(number, f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1}); "
                "save the file as UTF-8")
            )
            yield raw.decode("utf-8", errors="replace")


# --- CSV ---------------------------------------------------------------------------------

def read_csv(stream: Iterable[bytes], *, text_column: str = "text", label_column: str = "label"):
    decode_problems: list[Problem] = []
    reader = csv.reader(_decoded_lines(stream, decode_problems), strict=True)
    try:
        header = next(reader)
    except StopIteration:
        yield Problem(1, "the file is empty; the first line must be a header naming the columns")
        return
    except csv.Error as exc:
        yield Problem(1, f"the header is not valid CSV ({exc})")
        return
    yield from decode_problems
    decode_problems.clear()
    header = [name.strip() for name in header]
    if text_column not in header:
        yield Problem(1, f"missing column '{text_column}' (the header has: {', '.join(header) or 'nothing'})")
        return
    columns = {name: index for index, name in enumerate(header)}
    special = {text_column, label_column, "entities", "split"}
    line = reader.line_num
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            yield Problem(reader.line_num, f"not valid CSV ({exc})")
            break
        first_line, line = line + 1, reader.line_num
        yield from decode_problems
        decode_problems.clear()
        if not row:
            continue
        if len(row) != len(header):
            yield Problem(first_line, f"has {len(row)} fields but the header has {len(header)}")
            continue
        yield _csv_record(first_line, row, columns, special, text_column, label_column)


def _csv_record(line, row, columns, special, text_column, label_column):
    entities = None
    if "entities" in columns and row[columns["entities"]].strip():
        try:
            entities = json.loads(row[columns["entities"]])
        except json.JSONDecodeError as exc:
            return Problem(line, f"the entities column is not valid JSON ({exc.msg})")
    return ParsedRecord(
        line=line,
        text=row[columns[text_column]],
        label=row[columns[label_column]].strip() if label_column in columns else "",
        entities=entities,
        split=row[columns["split"]].strip() if "split" in columns else "",
        metadata={name: row[index] for name, index in columns.items() if name not in special},
    )


# --- JSONL -------------------------------------------------------------------------------

JSONL_KEYS = {"text", "label", "entities", "split", "metadata"}


def read_jsonl(stream: Iterable[bytes], **_options):
    decode_problems: list[Problem] = []
    loads = json.loads
    for number, line in enumerate(_decoded_lines(stream, decode_problems), start=1):
        if decode_problems:
            yield from decode_problems
            decode_problems.clear()
            continue
        if not line.strip():
            continue
        try:
            obj = loads(line)
        except json.JSONDecodeError as exc:
            yield Problem(number, f"not valid JSON ({exc.msg} at column {exc.colno})")
            continue
        if not isinstance(obj, dict):
            yield Problem(number, "each line must be a JSON object like {\"text\": ...}")
            continue
        yield _jsonl_record(number, obj)


def _jsonl_record(number: int, obj: dict):
    text = obj.get("text")
    if not isinstance(text, str):
        return Problem(number, "missing 'text' (a string)" if text is None else "'text' must be a string")
    label = obj.get("label") or ""
    if not isinstance(label, str):
        return Problem(number, "'label' must be a string")
    metadata = obj.get("metadata") or {}
    if not isinstance(metadata, dict):
        return Problem(number, "'metadata' must be an object")
    extra = {key: value for key, value in obj.items() if key not in JSONL_KEYS}
    return ParsedRecord(
        line=number,
        text=text,
        label=label.strip(),
        entities=obj.get("entities"),
        split=str(obj.get("split") or "").strip(),
        metadata={**metadata, **extra} if extra else metadata,
    )


# --- CoNLL -------------------------------------------------------------------------------

@dataclass(slots=True)
class Notice:
    """What a reader changed in the file as asked (for the import's page), not a reason to refuse it."""

    message: str


IOB1_CONVERT = "convert"


def read_conll(stream: Iterable[bytes], *, iob1: str = "", **_options):
    """Token per line (token first, BIO tag last), a blank line between sentences.

    A line with a tab is split on tabs (so a token may hold spaces: `New York<TAB>B-LOC`); any other line on
    spaces. IOB1 files (an entity starting with I-, B- only between two entities of one type) are refused
    with an offer to convert them; with `iob1="convert"`, an I- tag that starts an entity becomes B-, and a
    `Notice` at the end says how many entities were changed.
    """
    decode_problems: list[Problem] = []
    tokens: list[tuple[str, str]] = []
    start_line = 0
    sentence_ok = True
    converted = 0
    for number, line in enumerate(_decoded_lines(stream, decode_problems), start=1):
        if decode_problems:
            yield from decode_problems
            decode_problems.clear()
            sentence_ok = False
        parts = _conll_columns(line)
        if not parts or parts[0] == "-DOCSTART-":
            if tokens and sentence_ok:
                yield _conll_record(start_line, tokens)
            tokens, sentence_ok = [], True
            continue
        if not tokens:
            start_line = number
        tag = parts[-1] if len(parts) > 1 else "O"
        if iob1 == IOB1_CONVERT and _starts_with_inside(tag, tokens):
            tag, converted = "B-" + tag[2:], converted + 1
        problem = _conll_token_problem(parts, tag, tokens)
        if problem:
            yield Problem(number, problem)
            sentence_ok = False
        tokens.append((parts[0], tag))
    if tokens and sentence_ok:
        yield _conll_record(start_line, tokens)
    if converted:
        yield Notice(f"Converted from IOB1: {converted} entit{'y' if converted == 1 else 'ies'} starting with I- "
                     "now start with B-.")


def _conll_columns(line: str) -> list[str]:
    """The line's columns: split on tabs when it has any (a token may then hold spaces), else on spaces."""
    if not line.strip():
        return []
    if "\t" in line:
        columns = [column.strip() for column in line.rstrip("\r\n").split("\t")]
        return [columns[0], *(column for column in columns[1:] if column)]
    return line.split()


def _starts_with_inside(tag: str, previous: list[tuple[str, str]]) -> bool:
    """An I- tag that starts an entity: at the sentence's start, after O, or after another type."""
    if not tag.startswith("I-"):
        return False
    before = previous[-1][1] if previous else "O"
    return before == "O" or before[2:] != tag[2:]


def _conll_token_problem(parts: list[str], tag: str, previous: list[tuple[str, str]]) -> str | None:
    if not parts[0]:
        return (f"the token is empty (the line starts with a tab, then '{parts[-1]}'); write the token, a tab, "
                "then its BIO tag")
    if len(parts) < 2:
        return f"'{parts[0]}' has no tag; write the token, a space or tab, then its BIO tag"
    if tag == "O":
        return None
    if not (tag.startswith("B-") or tag.startswith("I-")) or len(tag) < 3:
        return f"tag '{tag}' is not BIO (use O, B-TYPE or I-TYPE)"
    if _starts_with_inside(tag, previous):
        before = previous[-1][1] if previous else "O"
        where = f"follows '{before}'" if previous else "starts the sentence"
        return (f"tag '{tag}' {where}; an entity must start with B-{tag[2:]}. If the file is IOB1 (entities "
                "start with I-, as in the original CoNLL-2003), import it again with IOB1 conversion "
                "(iob1=convert): an I- tag that starts an entity becomes B-")
    return None


def _conll_record(line: int, tokens: list[tuple[str, str]]) -> ParsedRecord:
    text, spans = spans_from_tokens(tokens)
    return ParsedRecord(line=line, text=text, entities=spans)


READERS = {"csv": read_csv, "jsonl": read_jsonl, "conll": read_conll}
