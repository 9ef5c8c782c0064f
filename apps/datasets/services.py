"""Writes for datasets: create, import (all or nothing), split assignment, delete."""

import codecs
import csv
import json
import logging
import random
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max, QuerySet

from apps.accounts.audit import audit_record
from apps.core.exceptions import ApplicationError
from apps.core.jobs import interactive_queue, job_cancel, job_claim, job_enqueue, job_finish, job_heartbeat
from apps.core.limits import LONG_TEXT_MAX, RECORD_TEXT_MAX, check_length, length_problem
from apps.core.models import JobStatus
from apps.core.uploads import (
    LineTooLong,
    bounded_lines,
    stored_upload_discard,
    stream_percent,
    upload_check_size,
    upload_check_text,
)
from apps.projects.kinds import kind_for
from apps.projects.models import Project
from apps.projects.services import project_kind_lock

from .formats import READERS, Notice, ParsedRecord, Problem
from .models import Dataset, DatasetImport, ImportFormat, Record, Split

logger = logging.getLogger(__name__)

IMPORT_BATCH_SIZE = 5000
IMPORT_MAX_ATTEMPTS = 3  # a file that kills the worker this often fails instead of being tried again
SPLIT_VALUES = {choice.value for choice in Split}


class ColumnChoiceNeeded(ApplicationError):
    """A CSV file lacks the column the import needs; `columns` are the file's own, to choose from."""

    def __init__(self, message: str, *, columns: list[str]):
        super().__init__(message)
        self.columns = columns


class ImportRejected(Exception):
    def __init__(self, problems: list[Problem]):
        super().__init__(f"{len(problems)} problems")
        self.problems = problems


class ImportCancelled(Exception):
    """The import was cancelled (or given up) while it ran: raising it rolls its records back."""


CANCELLED_NOTE = "Cancelled: nothing of this file was kept."


def import_cancel(*, dataset_import: DatasetImport) -> bool:
    """Stop a queued or running import; none of its records are kept (they are written in one transaction).
    False when it had already finished."""
    return job_cancel(dataset_import, error=CANCELLED_NOTE)


def dataset_create(*, project: Project, name: str, description: str = "", user=None) -> Dataset:
    name = name.strip()
    if not name:
        raise ApplicationError("Give the dataset a name.")
    check_length(description, LONG_TEXT_MAX, what="The description")
    dataset = Dataset.objects.create(project=project, name=name, description=description, created_by=user)
    project_kind_lock(project=project, locked=True)  # its records' expected answers are in the project's kind
    return dataset


def dataset_update(*, dataset: Dataset, name: str, description: str = "") -> Dataset:
    check_length(description, LONG_TEXT_MAX, what="The description")
    dataset.name, dataset.description = name.strip() or dataset.name, description
    dataset.save(update_fields=["name", "description"])
    return dataset


def dataset_delete(*, dataset: Dataset) -> None:
    project = dataset.project
    audit_record("dataset.deleted", project=project, target=dataset)
    dataset.delete()
    if not Dataset.objects.filter(project=project).exists():
        project_kind_lock(project=project, locked=False)


# --- import ------------------------------------------------------------------------------

def dataset_import_start(*, dataset: Dataset, upload, file_format: str, options: dict | None = None,
                         user=None, inline: bool | None = None) -> DatasetImport:
    """Store the uploaded file and import it: small files at once, larger ones as a Celery job.

    `upload` is any Django File (an UploadedFile from a request, or a File around an
    open file). `inline` forces one way or the other; by default the file's size decides.
    The returned import is finished when it ran inline and QUEUED otherwise.
    """
    if file_format not in ImportFormat.values:
        raise ApplicationError(f"Unknown format '{file_format}'; use one of: {', '.join(ImportFormat.values)}.")
    if file_format == ImportFormat.CONLL and file_format not in dataset.project.kind.import_formats:
        raise ApplicationError("CoNLL files hold entity tags: they fit NER projects only.")
    upload_check_size(upload)
    upload_check_text(upload, formats="CSV, JSONL or CoNLL")
    options = {k: v for k, v in (options or {}).items() if v}
    if file_format != ImportFormat.CONLL:
        options.pop("iob1", None)  # a CoNLL option only
    if file_format == ImportFormat.CSV:
        _check_csv_columns(dataset.project, upload, options)
    dataset_import = DatasetImport(
        dataset=dataset,
        original_name=Path(upload.name or "upload").name[:255],
        format=file_format,
        options=options,
        size_bytes=upload.size or 0,
        created_by=user,
    )
    dataset_import.file.save(dataset_import.original_name, upload, save=False)
    dataset_import.save()
    if inline is None:
        inline = dataset_import.size_bytes <= settings.TASKLLM_IMPORT_INLINE_MAX_BYTES
    if inline:
        return import_run(import_id=dataset_import.id)
    import_enqueue(dataset_import)
    return dataset_import


def import_enqueue(dataset_import: DatasetImport, *, countdown: float = 0) -> None:
    """Imports are short work: they go to the interactive queue, past long runs."""
    from .tasks import dataset_import_task

    job_enqueue(dataset_import_task, dataset_import, queue=interactive_queue(), countdown=countdown)


def _check_csv_columns(project: Project, upload, options: dict) -> None:
    """Refuse, before anything is stored, a CSV without the label column when the project has labels.

    Such a file would import every record unlabelled (the labels moved into metadata), so it is refused,
    naming the file's columns, unless the request says the file has no labels (`no_labels`). A missing
    text column is the reader's to report, on line 1 with the header.
    """
    header = _csv_header(upload)
    label_column = options.get("label_column") or "label"
    if (options.get("text_column") or "text") not in header or label_column in header:
        return
    if project.labels and not options.get("no_labels"):
        raise ColumnChoiceNeeded(
            f"The file has no '{label_column}' column, and this project has labels; the file's columns are: "
            f"{', '.join(header)}. Choose the label column, or say that the file has no labels.", columns=header)


def _csv_header(upload) -> list[str]:
    upload.seek(0)
    first = upload.readline()
    upload.seek(0)
    if isinstance(first, bytes):
        first = first.removeprefix(codecs.BOM_UTF8).decode("utf-8", errors="replace")
    try:
        return [name.strip() for name in next(csv.reader([first]), [])]
    except csv.Error:
        return []


def import_run(*, import_id: int) -> DatasetImport:
    """Run one import to its end. Safe to call again after a worker died mid-way.

    Records are written inside one transaction, so a rejected or crashed import leaves
    no record behind; a re-run after a crash starts again from the stored file.
    """
    if not job_claim(DatasetImport, import_id):
        dataset_import = DatasetImport.objects.get(id=import_id)
        stored_upload_discard(dataset_import)  # it may have ended without this worker (given up after crashes)
        return dataset_import
    dataset_import = DatasetImport.objects.select_related("dataset__project").get(id=import_id)
    notices: list[str] = []
    try:
        with transaction.atomic():
            count = _import_records(dataset_import, notices)
    except ImportRejected as rejected:
        _import_finish(dataset_import, JobStatus.FAILED, problems=rejected.problems)
    except ImportCancelled:
        stored_upload_discard(dataset_import)
    except LineTooLong as too_long:
        _import_finish(dataset_import, JobStatus.FAILED, problems=[Problem(too_long.line, too_long.message)])
    except Exception as exc:  # noqa: BLE001 - any failure must end visibly on the row
        logger.exception("Import %s failed", import_id)
        _import_finish(dataset_import, JobStatus.FAILED, error=f"The import stopped: {exc}")
    else:
        _import_finish(dataset_import, JobStatus.SUCCEEDED, records_imported=count,
                       notices=[*dataset_import.notices, *notices])
    return dataset_import


def _import_records(dataset_import: DatasetImport, notices: list[str]) -> int:
    """Read, check and write the file's records; what the reader converted as asked goes into `notices`."""
    project = dataset_import.dataset.project
    kind = kind_for(project)
    read = READERS[dataset_import.format]
    max_problems = settings.TASKLLM_IMPORT_MAX_PROBLEMS
    problems: list[Problem] = []
    batch: list[tuple] = []
    imported = seen = 0
    position = (dataset_import.dataset.records.aggregate(top=Max("position"))["top"] or 0) + 1
    with dataset_import.file.open("rb") as stored:
        raw = getattr(stored, "file", stored)
        stream = bounded_lines(raw)
        reader_options = {k: v for k, v in dataset_import.options.items() if k != "no_labels"}
        for item in read(stream, **reader_options):
            if isinstance(item, Notice):
                notices.append(item.message)
                continue
            seen += 1
            if isinstance(item, Problem):
                problems.append(item)
            else:
                reasons = _record_problems(project, kind, item)
                problems.extend(Problem(item.line, reason) for reason in reasons)
                if not problems:
                    batch.append(_record_row(dataset_import.dataset_id, position + imported + len(batch), item))
            if len(problems) >= max_problems:
                break
            if len(batch) >= IMPORT_BATCH_SIZE:
                imported += _insert(batch)
                batch = []
            if seen % IMPORT_BATCH_SIZE == 0:
                _heartbeat(dataset_import, raw)  # the file itself knows how far it has been read
        if problems:
            raise ImportRejected(problems[:max_problems])
        imported += _insert(batch)
    if imported == 0:
        raise ImportRejected([Problem(1, "the file holds no records")])
    return imported


def _record_problems(project: Project, kind, item: ParsedRecord) -> list[str]:
    reasons = []
    if not item.text.strip():
        reasons.append("empty text")
    if too_long := length_problem(item.text, RECORD_TEXT_MAX):
        reasons.append(too_long)
    if item.split.lower() not in SPLIT_VALUES:
        reasons.append(f"unknown split '{item.split}' (use train, test or leave it empty)")
    reasons.extend(kind.record_problems(project, text=item.text, label=item.label, entities=item.entities))
    return reasons


RECORD_COLUMNS = ("dataset_id", "position", "text", "label", "entities", "metadata", "split")


def _record_row(dataset_id: int, position: int, item: ParsedRecord) -> tuple:
    return (dataset_id, position, item.text, item.label, item.entities, item.metadata, item.split.lower())


def _insert(rows: list[tuple]) -> int:
    """Write a batch of record rows: COPY on PostgreSQL (several times faster), bulk_create elsewhere."""
    if not rows:
        return 0
    if connection.vendor == "postgresql":
        _copy_rows(rows)
    else:
        Record.objects.bulk_create([Record(**dict(zip(RECORD_COLUMNS, row, strict=True))) for row in rows])
    return len(rows)


def _copy_rows(rows: list[tuple]) -> None:
    dumps = json.dumps
    statement = f"COPY {Record._meta.db_table} ({', '.join(RECORD_COLUMNS)}) FROM STDIN"
    with connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
        for dataset_id, position, text, label, entities, metadata, split in rows:
            copy.write_row((dataset_id, position, text, label,
                            None if entities is None else dumps(entities), dumps(metadata), split))


def _heartbeat(dataset_import: DatasetImport, stream) -> None:
    # The records are written in one transaction (all or nothing): the heartbeat must be seen before it commits.
    if job_heartbeat(dataset_import, progress=stream_percent(stream, dataset_import.size_bytes), own_connection=True):
        return
    # The heartbeat's own connection cannot see a row this transaction has not committed; the status is read again
    # here, where a cancel committed by another request is seen.
    if not DatasetImport.objects.filter(id=dataset_import.id, status=JobStatus.RUNNING).exists():
        raise ImportCancelled()


def _import_finish(dataset_import: DatasetImport, status: str, *, problems=(), error="", records_imported=0,
                   notices=None):
    extra = {"notices": notices} if notices is not None else {}
    job_finish(dataset_import, status, error=error, records_imported=records_imported, **extra,
               problems=[{"line": p.line, "message": p.message} for p in problems])
    stored_upload_discard(dataset_import)


# --- splits ------------------------------------------------------------------------------

def records_set_split(*, records: QuerySet[Record], split: str) -> int:
    if split not in SPLIT_VALUES:
        raise ApplicationError(f"Unknown split '{split}'.")
    return records.update(split=split)


@transaction.atomic
def records_delete(*, dataset: Dataset, records: QuerySet[Record]) -> int:
    """Delete chosen records of a dataset (the model outputs made from them go too, as with the whole dataset)."""
    count = records.count()
    audit_record("records.deleted", project=dataset.project, target=dataset, details={"count": count})
    records.delete()
    return count


@transaction.atomic
def records_random_split(*, records: QuerySet[Record], test_share: float, seed: int = 0) -> dict[str, int]:
    """Shuffle the records with `seed` and put `test_share` of them in test, the rest in train."""
    if not 0 <= test_share <= 1:
        raise ApplicationError("The test share must be between 0 and 100%.")
    ids = list(records.order_by("id").values_list("id", flat=True))
    random.Random(seed).shuffle(ids)
    test_count = round(len(ids) * test_share)
    for split, chunk_ids in ((Split.TEST, ids[:test_count]), (Split.TRAIN, ids[test_count:])):
        for start in range(0, len(chunk_ids), 10000):
            Record.objects.filter(id__in=chunk_ids[start : start + 10000]).update(split=split)
    return {"test": test_count, "train": len(ids) - test_count}


@transaction.atomic
def record_append(*, dataset: Dataset, text: str, metadata: dict | None = None, label: str = "") -> Record:
    """Add one record at the end of a dataset (a deployment's sampled traffic arrives one call at a time)."""
    return records_append(dataset=dataset, items=[{"text": text, "metadata": metadata or {}, "label": label}])[0]


def records_append(*, dataset: Dataset, items: list[dict]) -> list[Record]:
    """Add records ({"text", "metadata", "label"}) at the end of a dataset, in order, in one write."""
    Dataset.objects.select_for_update().filter(id=dataset.id).first()
    last = dataset.records.aggregate(last=Max("position"))["last"]
    start = 0 if last is None else last + 1
    for item in items:
        check_length(item["text"], RECORD_TEXT_MAX, what="A record's text")
    return Record.objects.bulk_create([
        Record(dataset=dataset, position=start + i, text=item["text"], label=item.get("label", ""),
               metadata=item.get("metadata") or {}) for i, item in enumerate(items)])
