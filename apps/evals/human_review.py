"""Writes: people grade eval answers. A finished eval's answers are sent to review as records of a dataset of their
own and outputs of a run that never executes (as a deployment's sampled calls are), so the review screen, its keys,
training points and examples work on them unchanged. People's verdict on an answer (an adjudication, else the
reviewers' majority) becomes the answer's verdict, and the eval's results and gate are computed again."""

import random
from dataclasses import dataclass

from django.db import transaction
from django.db.models import F

from apps.accounts.audit import audit_record
from apps.core.exceptions import ApplicationError
from apps.datasets.services import dataset_create, records_append
from apps.prompts.rendering import render_messages
from apps.review.selectors import human_verdicts
from apps.runs.models import Run
from apps.runs.services import EVAL_ANSWERS, outputs_append, run_for_traffic

from .models import EvalOutput, EvalRun
from .results import results_compute
from .services import verdicts_store

MAX_SENT = 2000  # answers sent to review at once


class Which:
    ALL = "all"
    FAILING = "failing"
    SAMPLE = "sample"
    DISAGREE = "disagree"
    CHOICES = [(ALL, "All answers"), (FAILING, "Failing answers"), (SAMPLE, "A random sample"),
               (DISAGREE, "Where the judge and the rule disagree")]


@dataclass(frozen=True)
class Sent:
    run: Run
    count: int
    left_out: int  # answers that matched but were over MAX_SENT (send again for them)


def eval_review_send(*, eval_run: EvalRun, which: str, sample_size: int = 50, user=None) -> Sent:
    """Send the eval's answers that `which` picks (and that were not sent before) to review."""
    if not eval_run.is_completed:
        raise ApplicationError("Send an eval's answers to review once it has finished.")
    if which not in dict(Which.CHOICES):
        raise ApplicationError(f"Choose which answers: {', '.join(dict(Which.CHOICES))}.")
    if which == Which.SAMPLE and not 1 <= sample_size <= MAX_SENT:
        raise ApplicationError(f"A sample is between 1 and {MAX_SENT:,} answers.")
    chosen = _chosen(eval_run, which)
    ids = list(chosen.values_list("id", flat=True))
    if which == Which.SAMPLE:
        ids = random.sample(ids, min(sample_size, len(ids)))
    if not ids:
        raise ApplicationError("No answers to send: none match, or they are in review already.")
    picked, left_out = ids[:MAX_SENT], max(0, len(ids) - MAX_SENT)
    with transaction.atomic():
        run = _review_run(eval_run, user)
        count = _send(eval_run, run, picked)
    audit_record("eval.sent_to_review", project=eval_run.project, target=eval_run,
                 details={"which": which, "answers": count})
    return Sent(run=run, count=count, left_out=left_out)


def _chosen(eval_run: EvalRun, which: str):
    outputs = EvalOutput.objects.filter(eval_run=eval_run, review_output=None).order_by("test_case_id", "repeat")
    if which == Which.FAILING:
        return outputs.filter(passed=False)
    if which == Which.DISAGREE:
        return outputs.filter(auto_by="rule").exclude(judge_passed=None).exclude(judge_passed=F("auto_passed"))
    return outputs


def _review_run(eval_run: EvalRun, user) -> Run:
    locked = EvalRun.objects.select_for_update().get(id=eval_run.id)
    if locked.review_run_id is None:
        dataset = dataset_create(project=eval_run.project, name=f"Answers of eval {eval_run.id}", user=user,
                                 description=f"Answers of eval {eval_run.id} ({eval_run.version_label}) sent to "
                                             "review; each record carries its test case's expected answer.")
        locked.review_run = run_for_traffic(project=eval_run.project, dataset=dataset,
                                            prompt_version=eval_run.prompt_version, model=eval_run.model,
                                            user=user, source=EVAL_ANSWERS)
        locked.save(update_fields=["review_run"])
    eval_run.review_run = locked.review_run
    return locked.review_run


def _send(eval_run: EvalRun, run: Run, ids: list[int]) -> int:
    outputs = list(EvalOutput.objects.filter(id__in=ids, review_output=None).select_related("test_case")
                   .order_by("test_case_id", "repeat"))
    records = records_append(dataset=run.dataset, items=[{
        "text": o.test_case.text,
        "metadata": {"eval": eval_run.id, "test_case": o.test_case_id, "repeat": o.repeat,
                     "expected_answer": o.test_case.expected, "automatic_verdict": _said(o)},
    } for o in outputs])
    project, version = eval_run.project, eval_run.prompt_version
    made = outputs_append(run=run, items=[{
        "record": record, "messages": render_messages(project, version, o.test_case.text), "raw_text": o.raw_text,
        "answer": o.answer, "status": o.status, "problems": o.problems, "error": o.error,
        "latency_ms": o.latency_ms, "input_tokens": o.input_tokens, "output_tokens": o.output_tokens,
    } for o, record in zip(outputs, records, strict=True)])
    for o, review_output in zip(outputs, made, strict=True):
        o.review_output = review_output
    EvalOutput.objects.bulk_update(outputs, ["review_output"])
    return len(outputs)


def _said(output: EvalOutput) -> str:
    verdict = {True: "pass", False: "fail", None: "not scored"}[output.auto_passed]
    return f"{verdict} ({output.auto_by})" if output.auto_by else verdict


# --- people's verdicts back into the eval ------------------------------------------------------

def eval_human_verdicts_refresh(*, output_ids: list[int]) -> list[EvalRun]:
    """Take people's verdicts on these review outputs into the eval answers they stand for, then compute those
    evals' results and gates again. Outputs that are not eval answers are ignored. Returns the evals changed."""
    linked = list(EvalOutput.objects.filter(review_output_id__in=output_ids))
    if not linked:
        return []
    verdicts = human_verdicts(o.review_output_id for o in linked)
    for o in linked:
        o.human_passed = verdicts.get(o.review_output_id)
        o.passed = o.auto_passed if o.human_passed is None else o.human_passed
    EvalOutput.objects.bulk_update(linked, ["human_passed", "passed"])
    changed = list(EvalRun.objects.filter(id__in={o.eval_run_id for o in linked}).select_related("project"))
    for eval_run in changed:
        results_compute(eval_run)
        verdicts_store(eval_run)
    return changed


def on_verdicts_changed(sender, output_ids, **kwargs) -> None:
    """review's `verdicts_changed` signal (connected in EvalsConfig.ready)."""
    eval_human_verdicts_refresh(output_ids=output_ids)
