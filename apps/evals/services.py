"""Eval runs: create (fixing the test cases), execute on the runs machinery (resumable, exactly one output per
test case and repeat, scored as it is saved), judge, and store the results per training point when it finishes."""

import logging

from django.conf import settings
from django.db import transaction

from apps.accounts.audit import audit_record
from apps.core.exceptions import ApplicationError
from apps.core.jobs import default_queue, interactive_queue, job_cancel, job_claim, job_enqueue, job_finish, job_requeue
from apps.core.models import COMPLETED_STATUSES, JobStatus
from apps.llm.client import can_sample
from apps.llm.models import TEMPERATURE_RANGE
from apps.projects.kinds import AnswerCheck
from apps.prompts.models import PromptPurpose, PromptTemplate, PromptVersion
from apps.prompts.rendering import render_messages, schema_for
from apps.prompts.services import prompt_create, prompt_version_create
from apps.review.models import TestCase
from apps.runs.answering import answer_stream
from apps.runs.services import concurrency_honoured, finish_status

from .models import EvalOutput, EvalRun
from .results import results_compute, verdicts_update
from .scoring import (
    JUDGE_PROMPT_NAME,
    JUDGE_SCHEMA,
    JUDGE_USER,
    answer_key,
    judge_messages,
    judge_problems,
    judge_system,
    score_answer,
)

logger = logging.getLogger(__name__)

MAX_REPEATS = 20
MAX_CONCURRENCY = 64
CASE_CHUNK = 1000  # test cases answered per batch: the worker holds one batch's texts, never all of them


def eval_create(*, project, model, prompt_version, points=(), repeats: int = 3, concurrency: int = 8,
                repair: bool = True, judge_model=None, baseline=None, note: str = "", user=None,
                temperature: float | None = None, judge_prompt_version=None, launch: bool = True) -> EvalRun:
    """Fix the test cases an eval run answers (those of `points`, or all the project's) and queue it.

    `temperature` is the answers' (every repeat's); None keeps the model's own. A judge model grades with
    `judge_prompt_version`, by default the project's judge prompt as it stands (see `judge_prompt_current`)."""
    _check_parts(project, model, prompt_version, judge_model, baseline)
    _check_judge_prompt(project, judge_model, judge_prompt_version)
    if not 1 <= repeats <= MAX_REPEATS:
        raise ApplicationError(f"Repeats must be between 1 and {MAX_REPEATS}.")
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise ApplicationError(f"Concurrency must be between 1 and {MAX_CONCURRENCY}.")
    if temperature is not None and not TEMPERATURE_RANGE[0] <= temperature <= TEMPERATURE_RANGE[1]:
        raise ApplicationError(f"Temperature must be between {TEMPERATURE_RANGE[0]:g} and {TEMPERATURE_RANGE[1]:g}.")
    concurrency, notices = concurrency_honoured(model, concurrency)
    notices = [*notices, *_sampling_notices(model, temperature, repeats)]
    points = list(points)
    cases = TestCase.objects.filter(project=project)
    if points:
        cases = cases.filter(points__in=points)
    case_ids = sorted(set(cases.values_list("id", flat=True)))
    if not case_ids:
        raise ApplicationError("There are no test cases for these training points yet: write some on the "
                               "Test cases page (or press x on a failed output in review), then evaluate.")
    with transaction.atomic():
        if judge_model is not None and judge_prompt_version is None:
            judge_prompt_version = judge_prompt_current(project=project, user=user)
        eval_run = EvalRun.objects.create(
            project=project, model=model, prompt_version=prompt_version, test_case_ids=case_ids, repeats=repeats,
            temperature=temperature, concurrency=concurrency, repair=repair, judge_model=judge_model,
            judge_prompt_version=judge_prompt_version if judge_model is not None else None,
            baseline=baseline, note=note, total=len(case_ids) * repeats, created_by=user, notices=notices)
        eval_run.points.set(points)
        if launch:
            eval_enqueue(eval_run)
    audit_record("eval.launched", project=project, target=eval_run, details={"model": model.id})
    return eval_run


def _sampling_notices(model, temperature: float | None, repeats: int) -> list[str]:
    """Say so when repeats cannot differ: a model that cannot sample, asked for a temperature above 0."""
    wanted = model.temperature if temperature is None else temperature
    if repeats > 1 and wanted > 0 and not can_sample(model):
        return [f"{model.name} cannot sample: the bundled local model answers greedily whatever the temperature "
                f"({wanted:g} asked), so its repeats always agree and consistency and pass^k say nothing about "
                "flaky answers. Evaluate a served model to measure them."]
    return []


def _check_parts(project, model, prompt_version, judge_model, baseline) -> None:
    if prompt_version.template.project_id != project.id:
        raise ApplicationError("That prompt belongs to another project.")
    for chosen in (model, judge_model):
        if chosen is not None and chosen.project_id not in (None, project.id):
            raise ApplicationError("That model belongs to another project.")
    if project.kind.uses_judge and judge_model is None:
        raise ApplicationError(f"A {project.kind.title.lower()} project is scored by a judge model: choose one.")
    if baseline is not None and baseline.project_id != project.id:
        raise ApplicationError("The baseline must be an eval run of this project.")


def _check_judge_prompt(project, judge_model, version) -> None:
    if version is None:
        return
    if judge_model is None:
        raise ApplicationError("A judge prompt needs a judge model: choose one.")
    if version.template.project_id != project.id or version.template.purpose != PromptPurpose.JUDGE:
        raise ApplicationError("Choose a judge prompt of this project.")


def judge_prompt_current(*, project, user=None) -> PromptVersion:
    """The project's judge prompt as it stands, made from its rubric the first time. The rubric setting is always
    in it: when the rubric changed (or an edit dropped it), the next version restores it, so the agreement of a
    judge with people is measured per version of what it was told."""
    template = PromptTemplate.objects.filter(project=project, purpose=PromptPurpose.JUDGE).order_by("id").first()
    system = judge_system(project)
    if template is None:
        name = JUDGE_PROMPT_NAME if not project.prompt_templates.filter(name=JUDGE_PROMPT_NAME).exists() \
            else f"{JUDGE_PROMPT_NAME} ({project.id})"
        template = prompt_create(project=project, name=name, purpose=PromptPurpose.JUDGE, user=user, system=system,
                                 user_template=JUDGE_USER, note="Made from the project's rubric.",
                                 description="How a judge model grades answers; {text}, {expected} and {answer} "
                                             "fill its user message.")
        return template.versions.get()
    latest = template.versions.order_by("-number").first()
    rubric = project.judge_rubric.strip()
    if latest is None or (rubric and rubric not in latest.system):
        return prompt_version_create(template=template, system=system,
                                     user_template=latest.user_template if latest else JUDGE_USER,
                                     note="The project's rubric changed.", user=user)
    return latest


def eval_queue(eval_run: EvalRun) -> str:
    """Small evals go to the interactive queue, so a few test cases do not wait behind a long run."""
    small = eval_run.total * (2 if eval_run.judge_model_id else 1) <= settings.TASKLLM_INTERACTIVE_MAX_ANSWERS
    return interactive_queue() if small else default_queue()


def eval_enqueue(eval_run: EvalRun, *, countdown: float = 0) -> None:
    from .tasks import eval_execute_task

    job_enqueue(eval_execute_task, eval_run, queue=eval_queue(eval_run), countdown=countdown)


def eval_cancel(*, eval_run: EvalRun) -> bool:
    """Stop a queued or running eval run; its outputs so far are kept (it has no results until it finishes)."""
    cancelled = job_cancel(eval_run)
    if cancelled:
        audit_record("eval.cancelled", project=eval_run.project, target=eval_run)
    return cancelled


def eval_resume(*, eval_run: EvalRun) -> None:
    """Queue a failed, cancelled or stalled eval run again: it answers only what has no output yet."""
    job_requeue(eval_run)


# --- execution ---------------------------------------------------------------------------

def eval_execute(*, eval_id: int) -> EvalRun:
    """Answer, score and judge whatever of the eval run is not done yet, then store its results."""
    if not job_claim(EvalRun, eval_id):
        return EvalRun.objects.get(id=eval_id)
    eval_run = EvalRun.objects.select_related("project", "prompt_version__template", "model", "judge_model").get(
        id=eval_id)
    try:
        for start in range(0, len(eval_run.test_case_ids), CASE_CHUNK):
            if not _still_running(eval_run):
                return eval_run
            _answer_cases(eval_run, eval_run.test_case_ids[start : start + CASE_CHUNK])
        if eval_run.judge_model_id:
            _judge_pending(eval_run)
        if not _still_running(eval_run):
            return eval_run
        _finish(eval_run)
    except Exception as exc:  # noqa: BLE001 - the eval must end visibly, its outputs kept
        logger.exception("Eval run %s failed", eval_id)
        job_finish(eval_run, JobStatus.FAILED, error=f"The eval run stopped: {exc}")
    return eval_run


def _still_running(eval_run: EvalRun) -> bool:
    return EvalRun.objects.filter(id=eval_run.id, status=JobStatus.RUNNING).exists()


def _answer_cases(eval_run: EvalRun, case_ids: list[int]) -> None:
    cases = {c.id: c for c in TestCase.objects.filter(id__in=case_ids).only("id", "text", "expected")}
    done = set(eval_run.outputs.filter(test_case_id__in=case_ids).values_list("test_case_id", "repeat"))
    pending = [(case_id, repeat) for case_id in case_ids if case_id in cases for repeat in range(eval_run.repeats)
               if (case_id, repeat) not in done]
    if not pending:
        return
    project, version = eval_run.project, eval_run.prompt_version

    def prompts():
        for case_id, repeat in pending:
            text = cases[case_id].text
            yield (case_id, repeat), render_messages(project, version, text), AnswerCheck(project, text=text)

    answer_stream(eval_run, model=eval_run.model, concurrency=eval_run.concurrency, prompts=prompts(),
                  schema=schema_for(project, version), save=lambda arrived: _save_outputs(eval_run, cases, arrived),
                  temperature=eval_run.temperature)


def _save_outputs(eval_run: EvalRun, cases: dict, arrived: list[tuple]) -> None:
    outputs = []
    for (case_id, repeat), c in arrived:
        score = score_answer(eval_run.project, cases[case_id].expected, c.answer, valid=c.status == "ok",
                             text=cases[case_id].text)
        outputs.append(EvalOutput(
            eval_run=eval_run, test_case_id=case_id, repeat=repeat, raw_text=c.text, answer=c.answer,
            answer_key=answer_key(eval_run.project, c.answer, valid=c.status == "ok"), status=c.status,
            problems=c.problems, error=c.error, passed=score.passed, auto_passed=score.passed,
            auto_by="rule" if score.passed is not None else "", score=score.score,
            true_positives=score.true_positives, false_positives=score.false_positives,
            false_negatives=score.false_negatives, latency_ms=c.latency_ms, input_tokens=c.input_tokens,
            output_tokens=c.output_tokens))
    # The unique (eval run, test case, repeat) constraint makes a resumed eval's writes exactly-once.
    EvalOutput.objects.bulk_create(outputs, ignore_conflicts=True)


def _judge_pending(eval_run: EvalRun) -> None:
    """Ask the judge model about every valid answer it has not graded yet, a chunk at a time. Where the task kind
    has no rule (generation) its verdict is the answer's; elsewhere it stands beside the rule's, to compare."""
    version = eval_run.judge_prompt_version or judge_prompt_current(project=eval_run.project)
    while True:
        outputs = list(eval_run.outputs.filter(judge_passed=None, status="ok").select_related("test_case")
                       [:CASE_CHUNK])
        if not outputs or not _still_running(eval_run):
            return
        by_id = {o.id: o for o in outputs}
        prompts = ((o.id, judge_messages(version, text=o.test_case.text, expected=o.test_case.expected,
                                         answer=o.answer), judge_problems) for o in outputs)
        answer_stream(eval_run, model=eval_run.judge_model, concurrency=eval_run.concurrency, prompts=prompts,
                      schema=JUDGE_SCHEMA, save=lambda arrived, by_id=by_id: _save_judgements(by_id, arrived))


def _save_judgements(by_id: dict, arrived: list[tuple]) -> None:
    judged = []
    for output_id, c in arrived:
        output = by_id[output_id]
        if c.status == "ok":
            output.judge_passed, output.judge_reason = c.answer["pass"], str(c.answer.get("reason", ""))
        else:
            output.judge_passed = False
            output.judge_reason = f"The judge gave no usable verdict: {c.error or c.problems}"
        if output.auto_by != "rule":  # no rule decides this answer: the judge does
            output.passed = output.auto_passed = output.judge_passed
            output.auto_by, output.score = "judge", 1.0 if output.judge_passed else 0.0
        judged.append(output)
    EvalOutput.objects.bulk_update(judged, ["passed", "auto_passed", "auto_by", "judge_passed", "score",
                                            "judge_reason"])


def _finish(eval_run: EvalRun) -> None:
    outputs = eval_run.outputs
    first_error = outputs.exclude(error="").values_list("error", flat=True).first
    status, error = finish_status(done=outputs.count(), errors=outputs.filter(status="error").count(),
                                  first_error=first_error)
    if status == JobStatus.FAILED:
        job_finish(eval_run, status, error=error)
        return
    with transaction.atomic():
        results_compute(eval_run)
        job_finish(eval_run, status, error=error)
    verdicts_store(eval_run)


def verdicts_store(eval_run: EvalRun) -> None:
    """The gate of this eval, and of the evals that compare themselves with it."""
    verdicts_update(eval_run)
    for dependent in EvalRun.objects.filter(baseline=eval_run, status__in=COMPLETED_STATUSES):
        verdicts_update(dependent)


def evals_for_finetune(*, job, prompt_version, repeats: int = 3, user=None) -> tuple[EvalRun, EvalRun]:
    """Evaluate a fine-tuned model against its base: two evals of the same test cases and prompt version, the
    fine-tuned one with the base's as its baseline, so its page shows the change per training point."""
    if job.result_model_id is None:
        raise ApplicationError("This fine-tune has not produced a model yet.")
    points = list(job.points.all())
    with transaction.atomic():
        base = eval_create(project=job.project, model=job.base_model, prompt_version=prompt_version, points=points,
                           repeats=repeats, user=user, note=f"Base of fine-tune {job.id}")
        tuned = eval_create(project=job.project, model=job.result_model, prompt_version=prompt_version,
                            points=points, repeats=repeats, baseline=base, user=user, note=f"Fine-tune {job.id}")
    return base, tuned
