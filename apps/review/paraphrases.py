"""Writes: paraphrases of a test case, proposed by a model and accepted or rejected by a lead.

A lead asks a model for `count` paraphrases of one test case (`paraphrases_request`): a short job on the
interactive queue (`paraphrase_request_run`, one model call for a JSON object `{"paraphrases": [...]}`). Each
paraphrase becomes a proposal. Accepting one makes a test case through `services.test_case_create` (so the
leakage guard and the length bound apply), expecting the same answer, in the same training points and in the
original's paraphrase group (named "tc-<id>" when it had none); a refusal is kept on the proposal, in words.
"""

import json
import logging
from concurrent.futures import wait

from django.db import transaction
from django.utils import timezone

from apps.core.exceptions import ApplicationError
from apps.core.jobs import interactive_queue, job_claim, job_enqueue, job_finish, job_heartbeat
from apps.core.models import JobStatus
from apps.llm.client import Caller, Completion
from apps.llm.models import Model
from apps.llm.structured import schema_problems
from apps.projects.kinds import strip_reasoning

from . import services
from .models import ParaphraseProposal, ParaphraseRequest, ProposalStatus, TestCase

logger = logging.getLogger(__name__)

PARAPHRASES_DEFAULT = 3
PARAPHRASES_MAX = 10
HEARTBEAT_EVERY_SECONDS = 10  # while the model is asked: well under TASKLLM_JOB_HEARTBEAT_SECONDS
PARAPHRASE_REQUEST_MAX_ATTEMPTS = 3

PARAPHRASE_SCHEMA = {
    "type": "object",
    "properties": {"paraphrases": {"type": "array", "items": {"type": "string"}}},
    "required": ["paraphrases"],
    "additionalProperties": False,
}
PARAPHRASE_SYSTEM = (
    "You write paraphrases of a text, to test whether a model gives the same answer to the same request worded "
    "differently. Write {count} paraphrases of the user's text: each says the same thing in other words, so "
    "that its expected answer stays exactly this: {expected}. Keep names, numbers and any words the expected "
    "answer quotes as they are; do not add or drop facts; vary the wording and sentence structure.\n\n"
    'Reply with JSON only: {{"paraphrases": ["<paraphrase>", ...]}}.')


# --- asking the model ------------------------------------------------------------------------

def paraphrases_request(*, case: TestCase, model: Model, count: int = PARAPHRASES_DEFAULT,
                        user=None) -> ParaphraseRequest:
    """Queue a request for `count` (1 to PARAPHRASES_MAX) paraphrases of `case` by `model`."""
    if not 1 <= count <= PARAPHRASES_MAX:
        raise ApplicationError(f"Ask for 1 to {PARAPHRASES_MAX} paraphrases.")
    request = ParaphraseRequest.objects.create(test_case=case, model=model, count=count, created_by=user)
    paraphrase_request_enqueue(request)
    return request


def paraphrase_request_enqueue(request: ParaphraseRequest, *, countdown: float = 0) -> None:
    """One model call: short work, on the interactive queue."""
    from .tasks import paraphrase_request_task

    job_enqueue(paraphrase_request_task, request, queue=interactive_queue(), countdown=countdown)


def paraphrase_messages(case: TestCase, count: int) -> list[dict]:
    expected = json.dumps(strip_reasoning(case.expected), ensure_ascii=False)
    return [{"role": "system", "content": PARAPHRASE_SYSTEM.format(count=count, expected=expected)},
            {"role": "user", "content": case.text}]


def paraphrase_problems(answer: dict) -> list[str]:
    problems = schema_problems(answer, PARAPHRASE_SCHEMA)
    if not problems and not any(text.strip() for text in answer["paraphrases"]):
        problems = ["paraphrases: no paraphrase was given"]
    return problems


def paraphrase_request_run(*, request_id: int) -> ParaphraseRequest:
    """Ask the model and keep its paraphrases as proposals; a failed call or an unusable reply ends the request
    FAILED with the reason. Safe to run again after a worker died: nothing is kept until the end."""
    if not job_claim(ParaphraseRequest, request_id):
        return ParaphraseRequest.objects.get(id=request_id)
    request = ParaphraseRequest.objects.select_related("test_case", "model").get(id=request_id)
    try:
        completion = _ask(request)
    except Exception as exc:  # noqa: BLE001 - any failure must end visibly on the row
        logger.exception("Paraphrase request %s failed", request_id)
        job_finish(request, JobStatus.FAILED, error=f"The request stopped: {exc}")
        return request
    if completion is not None:
        _finish(request, completion)
    return request


def _ask(request: ParaphraseRequest) -> Completion | None:
    """The model's completion; None when the request was cancelled meanwhile."""
    if request.model is None:
        return Completion(error="The model was deleted.")
    with Caller(request.model) as caller:
        future = caller.submit(paraphrase_messages(request.test_case, request.count), schema=PARAPHRASE_SCHEMA,
                               validate=paraphrase_problems)
        while not wait([future], timeout=HEARTBEAT_EVERY_SECONDS).done:
            if not job_heartbeat(request):
                return None  # the call in flight ends with the caller; its answer is not kept
        return future.result()


def _finish(request: ParaphraseRequest, completion: Completion) -> None:
    if completion.status == "error":
        job_finish(request, JobStatus.FAILED, error=f"The model call failed: {completion.error}")
    elif completion.status == "invalid":
        job_finish(request, JobStatus.FAILED, error="The model's reply was not a list of paraphrases: "
                                                    + "; ".join(completion.problems))
    else:
        texts, notices = _new_texts(request, completion.answer["paraphrases"])
        with transaction.atomic():
            ParaphraseProposal.objects.bulk_create(
                ParaphraseProposal(request=request, test_case=request.test_case, text=text) for text in texts)
            job_finish(request, JobStatus.SUCCEEDED, notices=notices)


def _new_texts(request: ParaphraseRequest, paraphrases: list[str]) -> tuple[list[str], list[str]]:
    """The paraphrases worth proposing (at most `count`: none blank, repeated or the same as the test case's
    text), and what was left out, in words."""
    seen, texts = {services.normalize_text(request.test_case.text)}, []
    for text in (" ".join(p.split()) for p in paraphrases):
        key = services.normalize_text(text)
        if key and key not in seen:
            seen.add(key)
            texts.append(text)
    notices = []
    if len(texts) < request.count:
        notices.append(f"The model gave {len(texts)} usable paraphrases of the {request.count} asked for (blank "
                       "ones, repeats and copies of the test case's text are left out).")
    return texts[:request.count], notices


# --- the lead's decisions ----------------------------------------------------------------------

def proposal_accept(*, proposal: ParaphraseProposal, user, text: str | None = None) -> ParaphraseProposal:
    """Make the proposal (its text as edited, if given) a test case beside the original; raises ApplicationError
    when the test case is refused (the leakage guard, the bounds), the reason then kept on the proposal."""
    text = proposal.text if text is None else " ".join(text.split())
    refusal = _accept_or_refusal(proposal, text, user)
    proposal.refresh_from_db()
    if refusal:
        raise ApplicationError(refusal)
    return proposal


def proposal_reject(*, proposal: ParaphraseProposal, user) -> ParaphraseProposal:
    with transaction.atomic():
        _decide(_undecided(proposal), ProposalStatus.REJECTED, user)
    proposal.refresh_from_db()
    return proposal


@transaction.atomic
def _accept_or_refusal(proposal: ParaphraseProposal, text: str, user) -> str:
    """Accept the proposal as `text`, or keep why not (the text as tried, the reason) and return the reason."""
    locked = _undecided(proposal)
    try:
        with transaction.atomic():
            case = _paraphrase_case(locked.test_case, text, user)
    except ApplicationError as exc:
        locked.text, locked.refusal = text, exc.message
        locked.save(update_fields=["text", "refusal"])
        return exc.message
    _decide(locked, ProposalStatus.ACCEPTED, user, text=text, accepted_as=case, refusal="")
    return ""


def _undecided(proposal: ParaphraseProposal) -> ParaphraseProposal:
    """The proposal, locked until the transaction ends, so that two leads do not both decide it."""
    locked = ParaphraseProposal.objects.select_for_update().select_related("test_case").get(id=proposal.id)
    if locked.status != ProposalStatus.PROPOSED:
        raise ApplicationError(f"This proposal was already {locked.get_status_display().lower()}.")
    return locked


def _paraphrase_case(original: TestCase, text: str, user) -> TestCase:
    """A test case of `text` beside `original`: the same expected answer and points, the same paraphrase group
    (the original's, named after it when it had none)."""
    if not original.paraphrase_group:
        original.paraphrase_group = f"tc-{original.id}"
        original.save(update_fields=["paraphrase_group"])
    return services.test_case_create(project=original.project, text=text, expected=original.expected,
                                     points=list(original.points.all()), paraphrase_group=original.paraphrase_group,
                                     user=user)


def _decide(proposal: ParaphraseProposal, status: str, user, **fields) -> None:
    for name, value in {"status": status, "decided_by": user, "decided_at": timezone.now(), **fields}.items():
        setattr(proposal, name, value)
    proposal.save()
