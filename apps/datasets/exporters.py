"""Streaming exports of records: CSV, JSONL and CoNLL. Each yields text chunks, never the whole file."""

import json
from collections.abc import Iterator

from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django.utils.text import slugify

from apps.core import csv_export
from apps.projects.kinds.ner import tokens_with_tags

from .models import Record

CHUNK = 2000
EXPORT_FORMATS = {"csv": "text/csv", "jsonl": "application/jsonl", "conll": "text/plain"}


def _records(records: QuerySet[Record]) -> Iterator[tuple]:
    yield from records.values_list("text", "label", "entities", "split", "metadata").iterator(chunk_size=CHUNK)


def _metadata_columns(records: QuerySet[Record]) -> list[str]:
    keys: dict[str, None] = {}
    for metadata in records.values_list("metadata", flat=True).iterator(chunk_size=CHUNK):
        keys.update(dict.fromkeys(metadata or {}))
    return [key for key in keys if key not in {"text", "label", "entities", "split"}]


def export_csv(records: QuerySet[Record], *, ner: bool) -> Iterator[str]:
    metadata_columns = _metadata_columns(records)
    yield from csv_export.stream(_csv_rows(records, metadata_columns, ner=ner))


def _csv_rows(records: QuerySet[Record], metadata_columns: list[str], *, ner: bool) -> Iterator[list]:
    yield ["text", "entities" if ner else "label", "split", *metadata_columns]
    for text, label, entities, split, metadata in _records(records):
        answer = json.dumps(entities or [], ensure_ascii=False) if ner else label
        yield [text, answer, split, *(_cell(metadata.get(key)) for key in metadata_columns)]


def _cell(value) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def export_jsonl(records: QuerySet[Record], *, ner: bool) -> Iterator[str]:
    lines = []
    for text, label, entities, split, metadata in _records(records):
        row = {"text": text}
        if ner:
            row["entities"] = entities or []
        elif label:
            row["label"] = label
        if split:
            row["split"] = split
        if metadata:
            row["metadata"] = metadata
        lines.append(json.dumps(row, ensure_ascii=False))
        if len(lines) >= 500:
            yield "\n".join(lines) + "\n"
            lines = []
    if lines:
        yield "\n".join(lines) + "\n"


def export_conll(records: QuerySet[Record], *, ner: bool = True) -> Iterator[str]:
    for text, _label, entities, _split, _metadata in _records(records):
        yield "".join(f"{token}\t{tag}\n" for token, tag in tokens_with_tags(text, entities or [])) + "\n"


EXPORTERS = {"csv": export_csv, "jsonl": export_jsonl, "conll": export_conll}


def export_formats_for(project) -> list[str]:
    return [f for f in EXPORT_FORMATS if f in ("csv", "jsonl") or f in project.kind.import_formats]


def export_response(dataset, records: QuerySet[Record], export_format: str) -> StreamingHttpResponse:
    """Stream the records as a file download, a chunk at a time."""
    chunks = EXPORTERS[export_format](records, ner=dataset.project.kind.record_field == "entities")
    response = StreamingHttpResponse(chunks, content_type=f"{EXPORT_FORMATS[export_format]}; charset=utf-8")
    filename = f"{slugify(dataset.name) or 'dataset'}.{export_format}"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
