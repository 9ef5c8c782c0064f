"""Writes of the review loop: grades, training points, training examples, test cases, adjudication."""

import hashlib
import json
import logging
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction

from apps.core.exceptions import ApplicationError
from apps.core.jobs import interactive_queue, job_cancel, job_claim, job_enqueue, job_finish, job_heartbeat
from apps.core.limits import COMMENT_MAX, LONG_TEXT_MAX, RECORD_TEXT_MAX, check_length
from apps.core.models import JobStatus
from apps.core.uploads import (
    bounded_lines,
    stored_upload_discard,
    stream_percent,
    upload_check_size,
    upload_check_text,
)
from apps.projects.kinds import answer_problems, kind_for, same_answer, strip_reasoning
from apps.projects.models import Project
from apps.runs.models import Output
from apps.runs.services import output_review_count_add

from .models import (
    Adjudication,
    Grade,
    PointStatus,
    TestCase,
    TestCaseImport,
    TrainingExample,
    TrainingPoint,
    Verdict,
)
from .selectors import expected_of
from .signals import verdicts_changed_send

logger = logging.getLogger(__name__)


def normalize_text(text: str) -> str:
    """The form in which two texts count as the same for the leakage guard: Unicode NFKC, punctuation and symbols
    dropped, case folded, runs of spaces made one ("I lost my card!" and "i  lost my card" are the same text)."""
    text = unicodedata.normalize("NFKC", text)
    kept = "".join(" " if unicodedata.category(c)[0] in "PS" else c for c in text)
    return " ".join(kept.casefold().split())


def text_hash(text: str) -> str:
    return hashlib.sha256(normalize_text(text).encode()).hexdigest()


# --- training points ---------------------------------------------------------------------

def point_create(*, project: Project, name: str, description: str = "", user=None) -> TrainingPoint:
    name = " ".join(name.split())
    if not name:
        raise ApplicationError("Give the training point a name.")
    check_length(description, LONG_TEXT_MAX, what="The description")
    try:
        with transaction.atomic():
            return TrainingPoint.objects.create(project=project, name=name, description=description,
                                                created_by=user)
    except IntegrityError:
        raise ApplicationError(f"There is already a training point called '{name}'.") from None


def point_update(*, point: TrainingPoint, name: str | None = None, description: str | None = None,
                 status: str | None = None) -> TrainingPoint:
    if name is not None and " ".join(name.split()):
        point.name = " ".join(name.split())
    if description is not None:
        check_length(description, LONG_TEXT_MAX, what="The description")
        point.description = description
    if status is not None:
        if status not in PointStatus.values:
            raise ApplicationError(f"Unknown status '{status}'.")
        point.status = status
    try:
        with transaction.atomic():
            point.save()
    except IntegrityError:
        raise ApplicationError(f"There is already a training point called '{point.name}'.") from None
    return point


@transaction.atomic
def point_merge(*, source: TrainingPoint, target: TrainingPoint) -> TrainingPoint:
    """Move everything tagged with `source` to `target`, then delete `source`."""
    if source.project_id != target.project_id or source.id == target.id:
        raise ApplicationError("Merge two different points of the same project.")
    for relation in ("grades", "training_examples", "test_cases"):
        getattr(target, relation).add(*getattr(source, relation).all())
    if source.description and source.description not in target.description:
        target.description = "\n\n".join(d for d in (target.description, source.description) if d)
        target.save(update_fields=["description"])
    source.delete()
    return target


def points_by_names(*, project: Project, names: list[str], user=None) -> list[TrainingPoint]:
    """The named points of the project, creating the ones that do not exist yet (tagging on the fly)."""
    points = []
    for name in dict.fromkeys(" ".join(n.split()) for n in names if n.strip()):
        point = TrainingPoint.objects.filter(project=project, name__iexact=name).first()
        points.append(point or point_create(project=project, name=name, user=user))
    return points


# --- the leakage guard -------------------------------------------------------------------

def _ensure_not_a_test_case(project: Project, *, record_id, text: str) -> None:
    clash = TestCase.objects.filter(project=project, text_hash=text_hash(text)).first()
    if clash is None and record_id:
        clash = TestCase.objects.filter(project=project, record_id=record_id).first()
    if clash:
        raise ApplicationError(f"This text is held out as test case #{clash.id} (\"{clash.text[:60]}\"): "
                               "it cannot also be a training example.")


def _ensure_not_a_training_example(project: Project, *, record_id, text: str) -> None:
    clash = TrainingExample.objects.filter(project=project, text_hash=text_hash(text)).first()
    if clash is None and record_id:
        clash = TrainingExample.objects.filter(project=project, record_id=record_id).first()
    if clash:
        raise ApplicationError(f"This text is training example #{clash.id} (\"{clash.text[:60]}\"): "
                               "it cannot also be a held-out test case.")


# --- training examples and test cases ----------------------------------------------------

@transaction.atomic
def training_example_create(*, project: Project, messages: list, answer: dict, text: str, points=(), user=None,
                            record=None, source_grade=None) -> TrainingExample:
    check_length(text, RECORD_TEXT_MAX, what="The text")
    problems = answer_problems(project, answer, text=text)
    if problems:
        raise ApplicationError(f"The answer is not valid: {problems[0]}.")
    Project.objects.select_for_update().filter(id=project.id).first()  # one leakage check at a time
    _ensure_not_a_test_case(project, record_id=getattr(record, "id", None), text=text)
    example = TrainingExample.objects.create(project=project, record=record, source_grade=source_grade,
                                             messages=messages, answer=answer, text=text,
                                             text_hash=text_hash(text), created_by=user)
    example.points.set(points)
    return example


def training_example_write(*, project: Project, version, text: str, answer: dict, point_names=(),
                           user=None) -> TrainingExample:
    """A training example written by hand: `text` as `version` of a prompt would send it."""
    from apps.prompts.rendering import render_messages

    if not text.strip():
        raise ApplicationError("A training example needs a text.")
    points = points_by_names(project=project, names=list(point_names), user=user)
    return training_example_create(project=project, messages=render_messages(project, version, text), answer=answer,
                                   text=text, points=points, user=user)


@transaction.atomic
def training_example_update(*, example: TrainingExample, answer: dict | None = None, points=None) -> TrainingExample:
    """Change an example's answer or points; the leakage guard is checked again (a test case may have come since)."""
    if answer is not None:
        problems = answer_problems(example.project, answer, text=example.text)
        if problems:
            raise ApplicationError(f"The answer is not valid: {problems[0]}.")
        example.answer = answer
    Project.objects.select_for_update().filter(id=example.project_id).first()
    _ensure_not_a_test_case(example.project, record_id=example.record_id, text=example.text)
    example.save(update_fields=["answer"])
    if points is not None:
        example.points.set(points)
    return example


def training_example_delete(*, example: TrainingExample) -> None:
    example.delete()


@transaction.atomic
def test_case_create(*, project: Project, text: str, expected: dict, points=(), paraphrase_group: str = "",
                     user=None, record=None, source_grade=None) -> TestCase:
    if not text.strip():
        raise ApplicationError("A test case needs a text.")
    check_length(text, RECORD_TEXT_MAX, what="The text")
    problems = answer_problems(project, expected, text=text)
    if problems:
        raise ApplicationError(f"The expected answer is not valid: {problems[0]}.")
    Project.objects.select_for_update().filter(id=project.id).first()
    _ensure_not_a_training_example(project, record_id=getattr(record, "id", None), text=text)
    case = TestCase.objects.create(project=project, record=record, source_grade=source_grade, text=text,
                                   text_hash=text_hash(text), expected=expected,
                                   paraphrase_group=paraphrase_group.strip(), created_by=user)
    case.points.set(points)
    return case


def test_cases_from_records(*, project: Project, records, user=None) -> tuple[int, list[str]]:
    """Hold out each record as a test case expecting the record's own answer, each through the leakage guard.

    Returns how many were made and, for each record refused, the reason (no answer to expect, already a test
    case, or the guard's refusal); the others are made all the same.
    """
    kind = kind_for(project)
    made, refused = 0, []
    for record in records:
        expected = kind.expected_answer(record)
        if expected is None:
            refused.append(f"Record #{record.position}: it has no {kind.answer_noun.lower()} to expect.")
        elif TestCase.objects.filter(project=project, record=record).exists():
            refused.append(f"Record #{record.position}: it is already a test case.")
        else:
            try:
                test_case_create(project=project, text=record.text, expected=expected, record=record, user=user)
            except ApplicationError as exc:
                refused.append(f"Record #{record.position}: {exc.message}")
            else:
                made += 1
    return made, refused


@transaction.atomic
def test_case_update(*, case: TestCase, text: str | None = None, expected: dict | None = None, points=None,
                     paraphrase_group: str | None = None) -> TestCase:
    """Change a test case; a new text is checked by the leakage guard again, like a new test case."""
    text = case.text if text is None else text
    if not text.strip():
        raise ApplicationError("A test case needs a text.")
    check_length(text, RECORD_TEXT_MAX, what="The text")
    expected = case.expected if expected is None else expected
    problems = answer_problems(case.project, expected, text=text)
    if problems:
        raise ApplicationError(f"The expected answer is not valid: {problems[0]}.")
    Project.objects.select_for_update().filter(id=case.project_id).first()
    _ensure_not_a_training_example(case.project, record_id=case.record_id if text == case.text else None, text=text)
    case.text, case.text_hash, case.expected = text, text_hash(text), expected
    if paraphrase_group is not None:
        case.paraphrase_group = paraphrase_group.strip()
    case.save(update_fields=["text", "text_hash", "expected", "paraphrase_group"])
    if points is not None:
        case.points.set(points)
    return case


def test_case_delete(*, case: TestCase) -> None:
    case.delete()


# --- grades ------------------------------------------------------------------------------

@dataclass
class GradeResult:
    grade: Grade
    notes: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # what the grade could not make (the leakage guard), and why


@transaction.atomic
def grade_submit(*, output: Output, reviewer, verdict: str | None = None, corrected_answer: dict | None = None,
                 point_names=(), comment: str = "", seconds_spent: float = 0,
                 make_test_case: bool = False, keep_as_example: bool = False) -> GradeResult:
    """Save `reviewer`'s grade of `output` (replacing their earlier one; other reviewers' grades stay).

    A corrected answer that differs from the model's makes the grade a fail and becomes a
    training example of the tagged points; with `make_test_case` it becomes a held-out test
    case instead; `keep_as_example` keeps a passed answer as a training example too. What the
    leakage guard refused is in the result's `refused` list (and not in its notes).
    """
    run = output.run
    project = run.project
    text = output.record.text
    if make_test_case and verdict is None and corrected_answer is None:
        # "Make this a test case" on its own keeps the reviewer's earlier judgement. On an output nobody has
        # judged, the test case expects the record's expected answer; without one, the reviewer says it first:
        # an unreviewed model answer never becomes gold data.
        earlier = Grade.objects.filter(output=output, reviewer=reviewer).first()
        if earlier:
            verdict, corrected_answer = earlier.verdict, earlier.corrected_answer
        else:
            corrected_answer = expected_of(project, output.record)
            if corrected_answer is None:
                raise ApplicationError("Choose the right answer first (its number key, or pass with p), then press "
                                       "x: a test case expects a reviewed answer.")
    if corrected_answer is not None:
        problems = answer_problems(project, corrected_answer, text=text)
        if problems:
            raise ApplicationError(f"The corrected answer is not valid: {problems[0]}.")
        if same_answer(project, corrected_answer, output.answer):
            corrected_answer, verdict = None, verdict or Verdict.PASS
        else:
            verdict = Verdict.FAIL
    if verdict not in Verdict.values:
        raise ApplicationError("Say pass or fail (or choose the right answer).")
    check_length(comment, COMMENT_MAX, what="The comment")
    points = points_by_names(project=project, names=list(point_names), user=reviewer)
    grade = Grade.objects.select_for_update().filter(output=output, reviewer=reviewer).first()
    is_new = grade is None
    grade = grade or Grade(output=output, reviewer=reviewer)
    grade.verdict, grade.corrected_answer, grade.comment = verdict, corrected_answer, comment
    grade.seconds_spent = max(0.0, min(float(seconds_spent or 0), 3600.0))
    try:
        with transaction.atomic():
            grade.save()
    except IntegrityError:
        raise ApplicationError("You graded this output in another tab a moment ago; reload to see it.") from None
    grade.points.set(points)
    if is_new:
        output_review_count_add(output_id=output.id, delta=1)
    notes, refused = _derive_items(grade, output, points, make_test_case, keep_as_example, reviewer)
    verdicts_changed_send(output.id)
    return GradeResult(grade=grade, notes=notes, refused=refused)


def _derive_items(grade: Grade, output: Output, points, make_test_case: bool, keep_as_example: bool,
                  user) -> tuple[list[str], list[str]]:
    """Keep the training example or test case that this grade stands for in step with it: (notes, refused)."""
    project, record = output.run.project, output.record
    TrainingExample.objects.filter(source_grade=grade).delete()
    TestCase.objects.filter(source_grade=grade).delete()
    gold = _gold_answer(grade, output)
    try:
        if make_test_case:
            if gold is None:
                raise ApplicationError("No test case: the model's answer failed and there is no right answer to "
                                       "expect; choose the right answer first.")
            case = test_case_create(project=project, text=record.text, expected=strip_reasoning(gold), points=points,
                                    user=user, record=record, source_grade=grade)
            return [f"Made test case #{case.id}."], []
        if grade.corrected_answer is not None or (keep_as_example and grade.verdict == Verdict.PASS):
            example = training_example_create(project=project, messages=output.messages, text=record.text,
                                              answer=strip_reasoning(gold), points=points, user=user,
                                              record=record, source_grade=grade)
            return [f"Saved training example #{example.id}."], []
    except ApplicationError as exc:
        return [], [exc.message]
    return [], []


def _gold_answer(grade: Grade, output: Output) -> dict | None:
    """The answer a grade vouches for: its correction, the model's answer when it passed, else the record's."""
    if grade.corrected_answer is not None:
        return grade.corrected_answer
    if grade.verdict == Verdict.PASS and isinstance(output.answer, dict):
        return output.answer
    return expected_of(output.run.project, output.record)


@transaction.atomic
def grade_undo(*, reviewer, run) -> Output | None:
    """Take back the reviewer's latest grade in this run, with what it created; the output to show again."""
    grade = Grade.objects.select_for_update().filter(reviewer=reviewer, output__run=run).order_by(
        "-updated_at", "-id").first()
    if grade is None:
        return None
    output = grade.output
    TrainingExample.objects.filter(source_grade=grade).delete()
    TestCase.objects.filter(source_grade=grade).delete()
    grade.delete()
    output_review_count_add(output_id=output.id, delta=-1)
    verdicts_changed_send(output.id)
    return output


@transaction.atomic
def adjudicate(*, output: Output, lead, verdict: str, corrected_answer: dict | None = None,
               comment: str = "") -> Adjudication:
    if verdict not in Verdict.values:
        raise ApplicationError("Say pass or fail.")
    check_length(comment, COMMENT_MAX, what="The comment")
    if corrected_answer is not None:
        problems = answer_problems(output.run.project, corrected_answer, text=output.record.text)
        if problems:
            raise ApplicationError(f"The corrected answer is not valid: {problems[0]}.")
    decision, _ = Adjudication.objects.update_or_create(output=output, defaults={
        "lead": lead, "verdict": verdict, "corrected_answer": corrected_answer, "comment": comment})
    verdicts_changed_send(output.id)
    return decision


@transaction.atomic
def test_cases_import(*, project: Project, stream, user=None, heartbeat: Callable[[], None] | None = None) -> int:
    """Import test cases from JSONL, all or nothing; problems name their lines (the first 50).

    Inline imports and the import job both come here. The job passes `heartbeat`, called every
    HEARTBEAT_EVERY_LINES lines; it may raise to stop the import, which then keeps nothing.
    """
    upload_check_size(stream)
    problems, created = [], 0
    for number, raw in enumerate(bounded_lines(stream), start=1):
        if heartbeat and number % HEARTBEAT_EVERY_LINES == 0:
            heartbeat()
        line = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            if not isinstance(item, dict) or not isinstance(item.get("text"), str):
                raise ApplicationError('each line needs "text" and "expected"')
            names = item.get("points") or []
            if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
                raise ApplicationError('"points" is a list of training point names')
            with transaction.atomic():
                points = points_by_names(project=project, names=names, user=user)
                test_case_create(project=project, text=item["text"], expected=item.get("expected"), points=points,
                                 paraphrase_group=str(item.get("paraphrase_group") or ""), user=user)
            created += 1
        except json.JSONDecodeError as exc:
            problems.append({"line": number, "message": f"not valid JSON ({exc.msg})"})
        except ApplicationError as exc:
            problems.append({"line": number, "message": exc.message})
        if len(problems) >= 50:
            break
    if problems:
        raise ApplicationError("Nothing was imported: fix these lines and upload the file again.", problems=problems)
    if not created:
        raise ApplicationError("The file holds no test cases.")
    return created


# --- test-case imports as jobs -------------------------------------------------------------

HEARTBEAT_EVERY_LINES = 200  # a line is a few writes (about 2 ms): a heartbeat well under a second apart
TEST_CASE_IMPORT_MAX_ATTEMPTS = 3  # a file that kills the worker this often fails instead of being tried again


def test_cases_import_start(*, project: Project, upload, user=None, inline: bool | None = None) -> TestCaseImport:
    """Store the uploaded JSONL file and import it: small files at once, larger ones as a Celery job.

    `upload` is any Django File. `inline` forces one way or the other; by default the file's size decides
    (TASKLLM_TEST_CASE_IMPORT_INLINE_MAX_BYTES). The returned import is finished when it ran inline (SUCCEEDED
    with `cases_imported`, or FAILED with `error` and `problems`) and QUEUED otherwise.
    """
    upload_check_size(upload)
    upload_check_text(upload, formats="JSONL")
    case_import = TestCaseImport(project=project, original_name=Path(upload.name or "upload").name[:255],
                                 size_bytes=upload.size or 0, created_by=user)
    case_import.file.save(case_import.original_name, upload, save=False)
    case_import.save()
    if inline is None:
        inline = case_import.size_bytes <= settings.TASKLLM_TEST_CASE_IMPORT_INLINE_MAX_BYTES
    if inline:
        return test_case_import_run(import_id=case_import.id, in_request=True)
    test_case_import_enqueue(case_import)
    return case_import


def test_case_import_enqueue(case_import: TestCaseImport, *, countdown: float = 0) -> None:
    """Like dataset imports, test-case imports are short work: they go to the interactive queue, past long runs."""
    from .tasks import test_case_import_task

    job_enqueue(test_case_import_task, case_import, queue=interactive_queue(), countdown=countdown)


def test_case_import_run(*, import_id: int, in_request: bool = False) -> TestCaseImport:
    """Run one import to its end. Safe to call again after a worker died mid-way: the test cases are written in
    one transaction, so a crashed import left none behind and a re-run starts again from the stored file.

    A worker reports progress (a heartbeat that stops the import if the job was cancelled or given up meanwhile);
    an import `in_request` is small and nobody polls it, so it does not.
    """
    if not job_claim(TestCaseImport, import_id):
        case_import = TestCaseImport.objects.get(id=import_id)
        stored_upload_discard(case_import)  # it may have ended without this worker (given up after crashes)
        return case_import
    case_import = TestCaseImport.objects.select_related("project", "created_by").get(id=import_id)
    try:
        with case_import.file.open("rb") as stored:
            stream = getattr(stored, "file", stored)
            count = test_cases_import(project=case_import.project, stream=stream, user=case_import.created_by,
                                      heartbeat=None if in_request else lambda: _import_heartbeat(case_import, stream))
    except ApplicationError as exc:
        job_finish(case_import, JobStatus.FAILED, error=exc.message, problems=exc.problems)
    except Exception as exc:  # noqa: BLE001 - any failure must end visibly on the row
        logger.exception("Test-case import %s failed", import_id)
        job_finish(case_import, JobStatus.FAILED, error=f"The import stopped: {exc}")
    else:
        job_finish(case_import, JobStatus.SUCCEEDED, cases_imported=count)
    stored_upload_discard(case_import)
    return case_import


def test_case_import_cancel(*, case_import: TestCaseImport) -> bool:
    """Stop a queued or running test-case import; none of its cases are kept. False when it had already finished."""
    return job_cancel(case_import, error="Cancelled: nothing of this file was kept.")


def _import_heartbeat(case_import: TestCaseImport, stream) -> None:
    # The test cases are written in one transaction (all or nothing): the heartbeat must be seen before it commits.
    if not job_heartbeat(case_import, progress=stream_percent(stream, case_import.size_bytes), own_connection=True):
        raise ApplicationError("The import was cancelled; nothing of it was kept.")
