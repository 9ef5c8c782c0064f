"""Every page and API endpoint, checked the same way: the lowest allowed role succeeds, anonymous
users are sent to log in (pages) or get 401 (API), outsiders get 404, a role too low gets 403, and a
wrong HTTP method gets 405."""

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import Membership, Role
from apps.core.models import JobStatus
from apps.datasets.models import DatasetImport
from apps.evals.models import EvalRun
from apps.llm.models import Model
from apps.review.models import (
    ParaphraseProposal,
    ParaphraseRequest,
    TestCase,
    TestCaseImport,
    TrainingExample,
    TrainingPoint,
)
from apps.runs.models import Output, Run
from tests.conftest import api_as, login
from tests.factories import UserFactory

SITE_ADMIN = "site_admin"  # a superuser: the models folder is managed by site admins, reached from any project
ROLE_BELOW = {Role.LEAD: Role.REVIEWER, Role.ADMIN: Role.LEAD, SITE_ADMIN: Role.ADMIN}


def csv_upload():
    return SimpleUploadedFile("more.csv", b"text,label\nA new ticket about an invoice,billing\n", "text/csv")


@dataclass
class Endpoint:
    name: str
    method: str
    min_role: str
    kwargs: Callable = lambda ctx: {}
    data: Callable = lambda ctx: {}
    api: bool = False
    query: str = ""
    ok: set = field(default_factory=lambda: {200, 201, 202, 204, 302})

    def __str__(self):
        return f"{self.method} {self.name}"


P = lambda ctx: {"project_id": ctx["project"].id}  # noqa: E731
D = lambda ctx: {"dataset_id": ctx["dataset"].id}  # noqa: E731
M = lambda ctx: {"project_id": ctx["project"].id, "membership_id": ctx["membership"].id}  # noqa: E731
IMP = lambda ctx: {"import_id": ctx["import"].id}  # noqa: E731
PM = lambda ctx: {"project_id": ctx["project"].id, "model_id": ctx["model"].id}  # noqa: E731
SPARE = lambda ctx: {"project_id": ctx["project"].id, "model_id": ctx["spare_model"].id}  # noqa: E731
T = lambda ctx: {"template_id": ctx["version"].template_id}  # noqa: E731
V = lambda ctx: {"version_id": ctx["version"].id}  # noqa: E731
R = lambda ctx: {"run_id": ctx["run"].id}  # noqa: E731
OUT = lambda ctx: {"output_id": ctx["output"].id}  # noqa: E731
RO = lambda ctx: {"run_id": ctx["run"].id, "output_id": ctx["output"].id}  # noqa: E731
PT = lambda ctx: {"point_id": ctx["point"].id}  # noqa: E731
EX = lambda ctx: {"example_id": ctx["example"].id}  # noqa: E731
TC = lambda ctx: {"case_id": ctx["test_case"].id}  # noqa: E731
TCI = lambda ctx: {"import_id": ctx["test_case_import"].id}  # noqa: E731
PRQ = lambda ctx: {"request_id": ctx["paraphrase_request"].id}  # noqa: E731
PROP = lambda ctx: {"proposal_id": ctx["proposal"].id}  # noqa: E731
JOB = lambda ctx: {"job_id": ctx["job"].id}  # noqa: E731
LJOB = lambda ctx: {"job_id": ctx["model_export"].finetune_job_id}  # noqa: E731
XP = lambda ctx: {"export_id": ctx["model_export"].id}  # noqa: E731
PO = lambda ctx: {"project_id": ctx["project"].id, "output_id": ctx["output"].id}  # noqa: E731
EV = lambda ctx: {"eval_id": ctx["eval"].id}  # noqa: E731
FEV = lambda ctx: {"eval_id": ctx["finished_eval"].id}  # noqa: E731
EVAL_FORM = lambda ctx: {"model": ctx["model"].id, "prompt_version": ctx["version"].id, "repeats": 1,  # noqa: E731
                         "concurrency": 1}
DEP = lambda ctx: {"deployment_id": ctx["deployment"].id}  # noqa: E731
DEP_PROMOTION = lambda ctx: {"deployment_id": ctx["deployment"].id, "promotion_id": ctx["promotion"].id}  # noqa: E731
DEP_KEY = lambda ctx: {"deployment_id": ctx["deployment"].id, "key_id": ctx["deployment_key"].id}  # noqa: E731
DEP_TRACE = lambda ctx: {"deployment_id": ctx["deployment"].id, "trace_id": ctx["trace"].id}  # noqa: E731
MODEL_FORM = {"name": "M", "provider": "local", "temperature": "0", "max_tokens": "8", "timeout_seconds": "5",
              "max_retries": "0"}

PAGES = [
    Endpoint("projects:detail", "get", Role.REVIEWER, P),
    Endpoint("projects:edit", "get", Role.LEAD, P),
    Endpoint("projects:edit", "post", Role.LEAD, P,
             lambda ctx: {"name": "Renamed", "task_kind": "classification", "labels": "billing\ntechnical"}),
    Endpoint("projects:delete", "post", Role.ADMIN, P),
    Endpoint("accounts:members", "get", Role.REVIEWER, P),
    Endpoint("accounts:member_add", "post", Role.ADMIN, P, lambda ctx: {"username": "newbie", "role": "reviewer"}),
    Endpoint("accounts:member_role", "post", Role.ADMIN, M, lambda ctx: {"role": "lead"}),
    Endpoint("accounts:member_remove", "post", Role.ADMIN, M),
    Endpoint("accounts:member_invite", "post", Role.ADMIN, M),
    Endpoint("datasets:create", "get", Role.LEAD, P),
    Endpoint("datasets:create", "post", Role.LEAD, P, lambda ctx: {"name": "Fresh"}),
    Endpoint("datasets:detail", "get", Role.REVIEWER, D),
    Endpoint("datasets:import", "get", Role.LEAD, D),
    Endpoint("datasets:import", "post", Role.LEAD, D, lambda ctx: {"file": csv_upload(), "format": "csv"}),
    Endpoint("datasets:export", "get", Role.REVIEWER, D, query="?format=csv"),
    Endpoint("datasets:split", "post", Role.LEAD, D, lambda ctx: {"mode": "random", "test_percent": "50"}),
    Endpoint("datasets:delete", "post", Role.LEAD, D),
    Endpoint("datasets:records_delete", "post", Role.LEAD, D,
             lambda ctx: {"record": [ctx["dataset"].records.last().id]}),
    Endpoint("datasets:records_move", "post", Role.LEAD, D,
             lambda ctx: {"record": [ctx["dataset"].records.last().id], "split": "test"}),
    Endpoint("review:records_to_test_cases", "post", Role.LEAD, D,
             lambda ctx: {"record": [ctx["dataset"].records.last().id]}),
    Endpoint("datasets:import_detail", "get", Role.REVIEWER, IMP),
    Endpoint("datasets:import_cancel", "post", Role.LEAD, IMP),
    Endpoint("llm:list", "get", Role.REVIEWER, P),
    Endpoint("llm:create", "get", Role.LEAD, P),
    Endpoint("llm:create", "post", Role.LEAD, P, lambda ctx: MODEL_FORM),
    Endpoint("llm:edit", "get", Role.LEAD, PM),
    Endpoint("llm:edit", "post", Role.LEAD, PM, lambda ctx: MODEL_FORM),
    Endpoint("llm:test", "post", Role.LEAD, PM),
    Endpoint("llm:use_method", "post", Role.LEAD, PM, lambda ctx: {"method": "json_object"}),
    Endpoint("llm:server_ids", "get", Role.LEAD, PM),
    Endpoint("llm:server_ids_at", "post", Role.LEAD, P, lambda ctx: {"base_url": ""}),
    Endpoint("llm:delete", "post", Role.LEAD, SPARE),
    Endpoint("llm:folder", "get", SITE_ADMIN, P),
    Endpoint("llm:folder_register", "post", SITE_ADMIN, P, lambda ctx: {"path": "tiny"}),
    Endpoint("prompts:list", "get", Role.REVIEWER, P),
    Endpoint("prompts:create", "get", Role.LEAD, P),
    Endpoint("prompts:create", "post", Role.LEAD, P, lambda ctx: {"name": "New", "style": "plain",
                                                                  "user_template": "{text}"}),
    Endpoint("prompts:detail", "get", Role.REVIEWER, T),
    Endpoint("prompts:edit", "get", Role.LEAD, T),
    Endpoint("prompts:edit", "post", Role.LEAD, T, lambda ctx: {"style": "plain", "user_template": "{text}"}),
    Endpoint("prompts:diff", "get", Role.REVIEWER, T),
    Endpoint("prompts:preview", "get", Role.REVIEWER, V),
    Endpoint("runs:list", "get", Role.REVIEWER, P),
    Endpoint("runs:create", "get", Role.LEAD, P),
    Endpoint("runs:create", "post", Role.LEAD, P, lambda ctx: {
        "prompt_version": ctx["version"].id, "model": ctx["model"].id, "dataset": ctx["dataset"].id,
        "repeats": "1", "concurrency": "1"}),
    Endpoint("runs:detail", "get", Role.REVIEWER, R),
    Endpoint("runs:cancel", "post", Role.LEAD, R),
    Endpoint("runs:resume", "post", Role.LEAD, R),
    Endpoint("runs:output", "get", Role.REVIEWER, OUT),
    Endpoint("runs:export", "get", Role.REVIEWER, R),
    Endpoint("review:start", "get", Role.REVIEWER, R),
    Endpoint("review:output", "get", Role.REVIEWER, RO),
    Endpoint("review:grade", "post", Role.REVIEWER, RO, lambda ctx: {"verdict": "pass"}),
    Endpoint("review:undo", "post", Role.REVIEWER, R),
    Endpoint("review:lease", "post", Role.REVIEWER, RO),
    Endpoint("review:points", "get", Role.REVIEWER, P),
    Endpoint("review:points", "post", Role.REVIEWER, P, lambda ctx: {"name": "New point", "status": "open"}),
    Endpoint("review:point", "get", Role.REVIEWER, PT),
    Endpoint("review:point_edit", "post", Role.LEAD, PT, lambda ctx: {"name": "Renamed", "status": "fixed"}),
    Endpoint("review:point_merge", "post", Role.LEAD, PT, lambda ctx: {"into": ctx["other_point"].id}),
    Endpoint("review:examples", "get", Role.REVIEWER, P),
    Endpoint("review:examples_export", "get", Role.LEAD, P, query="?format=openai"),
    Endpoint("review:examples", "post", Role.LEAD, P, lambda ctx: {
        "prompt_version": ctx["version"].id, "text": "A hand-written ticket", "answer": '{"label": "billing"}'}),
    Endpoint("review:example_edit", "get", Role.LEAD, EX),
    Endpoint("review:example_edit", "post", Role.LEAD, EX, lambda ctx: {"answer": '{"label": "technical"}'}),
    Endpoint("review:example_delete", "post", Role.LEAD, EX),
    Endpoint("review:test_case_edit", "get", Role.LEAD, TC),
    Endpoint("review:test_case_edit", "post", Role.LEAD, TC, lambda ctx: {"text": "Held out, edited",
                                                                          "expected": '{"label": "billing"}'}),
    Endpoint("review:test_case_delete", "post", Role.LEAD, TC),
    Endpoint("review:test_cases", "get", Role.REVIEWER, P),
    Endpoint("review:test_cases", "post", Role.LEAD, P, lambda ctx: {"text": "A held-out ticket",
                                                                     "expected": '{"label": "billing"}'}),
    Endpoint("review:test_case_import", "post", Role.LEAD, P, lambda ctx: {"file": SimpleUploadedFile(
        "cases.jsonl", b'{"text": "Held out", "expected": {"label": "billing"}}\n')}),
    Endpoint("review:paraphrases", "get", Role.REVIEWER, TC),
    Endpoint("review:paraphrases", "post", Role.LEAD, TC, lambda ctx: {"model": ctx["model"].id, "count": 1}),
    Endpoint("review:proposal_accept", "post", Role.LEAD, PROP, lambda ctx: {"text": "Held out, said again"}),
    Endpoint("review:proposal_reject", "post", Role.LEAD, PROP),
    Endpoint("review:test_case_import_detail", "get", Role.LEAD, TCI),
    Endpoint("review:test_case_import_cancel", "post", Role.LEAD, TCI),
    Endpoint("review:agreement", "get", Role.LEAD, P),
    Endpoint("review:adjudicate", "post", Role.LEAD, PO, lambda ctx: {"verdict": "pass"}),
    Endpoint("tuning:list", "get", Role.REVIEWER, P),
    Endpoint("tuning:launch", "get", Role.LEAD, P),
    Endpoint("tuning:launch", "post", Role.LEAD, P, lambda ctx: {"backend": "local"}),
    Endpoint("tuning:detail", "get", Role.REVIEWER, JOB),
    Endpoint("tuning:cancel", "post", Role.LEAD, JOB),
    Endpoint("tuning:training_file", "get", Role.LEAD, JOB),
    Endpoint("tuning:export_create", "post", Role.LEAD, JOB, lambda ctx: {"format": "adapter"}),
    Endpoint("tuning:export_download", "get", Role.LEAD, XP),
    Endpoint("evals:list", "get", Role.REVIEWER, P),
    Endpoint("evals:create", "get", Role.LEAD, P),
    Endpoint("evals:create", "post", Role.LEAD, P, EVAL_FORM),
    Endpoint("evals:detail", "get", Role.REVIEWER, EV),
    Endpoint("evals:cancel", "post", Role.LEAD, EV),
    Endpoint("evals:resume", "post", Role.LEAD, EV),
    Endpoint("evals:review_send", "post", Role.LEAD, FEV, lambda ctx: {"which": "all"}),
    Endpoint("evals:export", "get", Role.REVIEWER, lambda ctx: {"eval_id": ctx["eval"].id, "table": "results"}),
    Endpoint("evals:export", "get", Role.REVIEWER, lambda ctx: {"eval_id": ctx["eval"].id, "table": "outputs"}),
    Endpoint("evals:export", "get", Role.REVIEWER, lambda ctx: {"eval_id": ctx["eval"].id, "table": "labels"}),
    Endpoint("evals:finetune", "get", Role.LEAD, JOB),
    Endpoint("evals:finetune", "post", Role.LEAD, JOB, lambda ctx: {"prompt_version": ctx["version"].id,
                                                                    "repeats": 1}),
    Endpoint("evals:dashboard", "get", Role.REVIEWER, P),
    Endpoint("evals:dashboard_export", "get", Role.REVIEWER, lambda ctx: {"project_id": ctx["project"].id,
                                                                          "table": "pass-rates"}),
    Endpoint("evals:dashboard_export", "get", Role.REVIEWER, lambda ctx: {"project_id": ctx["project"].id,
                                                                          "table": "labels"}),
    Endpoint("evals:dashboard_export", "get", Role.LEAD, lambda ctx: {"project_id": ctx["project"].id,
                                                                      "table": "reviewers"}),
    Endpoint("deployments:list", "get", Role.REVIEWER, P),
    Endpoint("deployments:list", "post", Role.LEAD, P, lambda ctx: {"slug": "new-endpoint"}),
    Endpoint("deployments:detail", "get", Role.REVIEWER, DEP),
    Endpoint("deployments:settings", "get", Role.LEAD, DEP),
    Endpoint("deployments:settings", "post", Role.LEAD, DEP, lambda ctx: {"shadow_share": "0", "sample_share": "0.1",
                                                                          "sample_low_confidence": "0"}),
    Endpoint("deployments:promote", "post", Role.LEAD, DEP, lambda ctx: {
        "model": ctx["model"].id, "prompt_version": ctx["version"].id, "reason": "try"}),
    Endpoint("deployments:rollback", "post", Role.LEAD, DEP_PROMOTION),
    Endpoint("deployments:keys", "post", Role.LEAD, DEP, lambda ctx: {"name": "App"}),
    Endpoint("deployments:key_revoke", "post", Role.LEAD, DEP_KEY),
    Endpoint("deployments:traces", "get", Role.REVIEWER, DEP),
    Endpoint("deployments:traces_export", "get", Role.REVIEWER, DEP, query="?format=jsonl"),
    Endpoint("deployments:trace", "get", Role.REVIEWER, DEP_TRACE),
    Endpoint("deployments:traffic", "get", Role.REVIEWER, DEP),
    Endpoint("deployments:traffic_export", "get", Role.REVIEWER, DEP),
    Endpoint("deployments:schedules", "get", Role.REVIEWER, DEP),
    Endpoint("deployments:schedules", "post", Role.LEAD, DEP, lambda ctx: {"every": "daily", "repeats": 1}),
    Endpoint("deployments:schedule_delete", "post", Role.LEAD, lambda ctx: {
        "deployment_id": ctx["deployment"].id, "schedule_id": ctx["schedule"].id}),
    Endpoint("deployments:alerts", "get", Role.REVIEWER, P),
    Endpoint("deployments:alerts", "post", Role.LEAD, P, lambda ctx: {"event": "eval.failed", "window_minutes": 60}),
    Endpoint("deployments:alert_handle", "post", Role.LEAD, lambda ctx: {
        "project_id": ctx["project"].id, "alert_id": ctx["alert"].id, "action": "acknowledge"}),
    Endpoint("deployments:alert_handle", "post", Role.LEAD, lambda ctx: {
        "project_id": ctx["project"].id, "alert_id": ctx["alert"].id, "action": "resolve"}),
    Endpoint("deployments:rule_delete", "post", Role.LEAD, lambda ctx: {
        "project_id": ctx["project"].id, "rule_id": ctx["alert_rule"].id}),
    Endpoint("deployments:webhooks", "get", Role.LEAD, P),
    Endpoint("deployments:webhooks", "post", Role.LEAD, P, lambda ctx: {"url": "https://hooks.example.com/taskllm"}),
    Endpoint("deployments:webhook_delete", "post", Role.LEAD, lambda ctx: {
        "project_id": ctx["project"].id, "webhook_id": ctx["webhook"].id}),
    Endpoint("deployments:redeliver", "post", Role.LEAD, lambda ctx: {
        "project_id": ctx["project"].id, "delivery_id": ctx["delivery"].id}),
]

APIS = [
    Endpoint("api-project", "get", Role.REVIEWER, P, api=True),
    Endpoint("api-project", "patch", Role.LEAD, P, lambda ctx: {"guidelines": "Be precise."}, api=True),
    Endpoint("api-project", "delete", Role.ADMIN, P, api=True),
    Endpoint("api-members", "get", Role.REVIEWER, P, api=True),
    Endpoint("api-members", "post", Role.ADMIN, P, lambda ctx: {"username": "newbie", "role": "lead"}, api=True),
    Endpoint("api-member", "get", Role.REVIEWER, M, api=True),
    Endpoint("api-member", "patch", Role.ADMIN, M, lambda ctx: {"role": "lead"}, api=True),
    Endpoint("api-member", "delete", Role.ADMIN, M, api=True),
    Endpoint("api-datasets", "get", Role.REVIEWER, P, api=True),
    Endpoint("api-datasets", "post", Role.LEAD, P, lambda ctx: {"name": "Fresh"}, api=True),
    Endpoint("api-dataset", "get", Role.REVIEWER, D, api=True),
    Endpoint("api-dataset", "patch", Role.LEAD, D, lambda ctx: {"name": "Renamed"}, api=True),
    Endpoint("api-dataset", "delete", Role.LEAD, D, api=True),
    Endpoint("api-records", "get", Role.REVIEWER, D, api=True),
    Endpoint("api-imports", "get", Role.REVIEWER, D, api=True),
    Endpoint("api-imports", "post", Role.LEAD, D, lambda ctx: {"file": csv_upload()}, api=True),
    Endpoint("api-import", "get", Role.REVIEWER, IMP, api=True),
    Endpoint("api-export", "get", Role.REVIEWER, D, api=True, query="?format=jsonl"),
    Endpoint("api-split", "post", Role.LEAD, D, lambda ctx: {"test_share": 0.5}, api=True),
    Endpoint("api-models", "get", Role.REVIEWER, P, api=True),
    Endpoint("api-models", "post", Role.LEAD, P, lambda ctx: MODEL_FORM, api=True),
    Endpoint("api-model", "get", Role.REVIEWER, PM, api=True),
    Endpoint("api-model", "patch", Role.LEAD, PM, lambda ctx: {"name": "Renamed"}, api=True),
    Endpoint("api-model", "delete", Role.LEAD, SPARE, api=True),
    Endpoint("api-model-test", "post", Role.LEAD, PM, api=True),
    Endpoint("api-models-folder", "get", SITE_ADMIN, P, api=True),
    Endpoint("api-models-folder", "post", SITE_ADMIN, P, lambda ctx: {"path": "tiny"}, api=True),
    Endpoint("api-prompts", "get", Role.REVIEWER, P, api=True),
    Endpoint("api-prompts", "post", Role.LEAD, P, lambda ctx: {"name": "Via API"}, api=True),
    Endpoint("api-prompt", "get", Role.REVIEWER, T, api=True),
    Endpoint("api-prompt-versions", "get", Role.REVIEWER, T, api=True),
    Endpoint("api-prompt-versions", "post", Role.LEAD, T, lambda ctx: {"user_template": "{text}"}, api=True),
    Endpoint("api-runs", "get", Role.REVIEWER, P, api=True),
    Endpoint("api-runs", "post", Role.LEAD, P, lambda ctx: {
        "prompt_version": ctx["version"].id, "model": ctx["model"].id, "dataset": ctx["dataset"].id}, api=True),
    Endpoint("api-run", "get", Role.REVIEWER, R, api=True),
    Endpoint("api-run-launch", "post", Role.LEAD, R, api=True),
    Endpoint("api-run-cancel", "post", Role.LEAD, R, api=True),
    Endpoint("api-outputs", "get", Role.REVIEWER, R, api=True),
    Endpoint("api-grades", "get", Role.REVIEWER, R, api=True),
    Endpoint("api-grades", "post", Role.REVIEWER, R, lambda ctx: {"output": ctx["output"].id, "verdict": "fail",
                                                                  "points": ["new"]}, api=True),
    Endpoint("api-review-next", "get", Role.REVIEWER, R, api=True),
    Endpoint("api-points", "get", Role.REVIEWER, P, api=True),
    Endpoint("api-points", "post", Role.REVIEWER, P, lambda ctx: {"name": "Via API"}, api=True),
    Endpoint("api-point", "get", Role.REVIEWER, PT, api=True),
    Endpoint("api-point", "patch", Role.LEAD, PT, lambda ctx: {"status": "fixed"}, api=True),
    Endpoint("api-point-merge", "post", Role.LEAD, PT, lambda ctx: {"into": ctx["other_point"].id}, api=True),
    Endpoint("api-examples", "get", Role.REVIEWER, P, api=True),
    Endpoint("api-examples", "post", Role.LEAD, P, lambda ctx: {
        "prompt_version": ctx["version"].id, "text": "Hand-written", "answer": {"label": "billing"}}, api=True),
    Endpoint("api-test-cases", "get", Role.REVIEWER, P, api=True),
    Endpoint("api-test-cases", "post", Role.LEAD, P, lambda ctx: {"text": "Held", "expected": {"label": "billing"}},
             api=True),
    Endpoint("api-test-case", "get", Role.REVIEWER, TC, api=True),
    Endpoint("api-test-case", "patch", Role.LEAD, TC, lambda ctx: {"expected": {"label": "technical"}}, api=True),
    Endpoint("api-test-case", "delete", Role.LEAD, TC, api=True),
    Endpoint("api-example", "get", Role.REVIEWER, EX, api=True),
    Endpoint("api-example", "patch", Role.LEAD, EX, lambda ctx: {"answer": {"label": "technical"}}, api=True),
    Endpoint("api-example", "delete", Role.LEAD, EX, api=True),
    Endpoint("api-test-case-import", "post", Role.LEAD, P, lambda ctx: {"file": SimpleUploadedFile(
        "cases.jsonl", b'{"text": "Held out by API", "expected": {"label": "billing"}}\n')}, api=True),
    Endpoint("api-test-case-import-detail", "get", Role.LEAD, TCI, api=True),
    Endpoint("api-paraphrases", "get", Role.REVIEWER, TC, api=True),
    Endpoint("api-paraphrases", "post", Role.LEAD, TC, lambda ctx: {"model": ctx["model"].id, "count": 1}, api=True),
    Endpoint("api-paraphrase-request", "get", Role.REVIEWER, PRQ, api=True),
    Endpoint("api-proposal-accept", "post", Role.LEAD, PROP, lambda ctx: {"text": "Held out, said again"}, api=True),
    Endpoint("api-proposal-reject", "post", Role.LEAD, PROP, api=True),
    Endpoint("api-prompt-preview", "get", Role.REVIEWER, V, api=True),
    Endpoint("api-agreement", "get", Role.LEAD, P, api=True),
    Endpoint("api-finetunes", "get", Role.REVIEWER, P, api=True),
    Endpoint("api-finetune", "get", Role.REVIEWER, JOB, api=True),
    Endpoint("api-finetune-cancel", "post", Role.LEAD, JOB, api=True),
    Endpoint("api-model-exports", "get", Role.REVIEWER, JOB, api=True),
    Endpoint("api-model-exports", "post", Role.LEAD, LJOB, lambda ctx: {"format": "adapter"}, api=True),
    Endpoint("api-model-export", "get", Role.REVIEWER, XP, api=True),
    Endpoint("api-model-export-download", "get", Role.LEAD, XP, api=True),
    Endpoint("api-evals", "get", Role.REVIEWER, P, api=True),
    Endpoint("api-evals", "post", Role.LEAD, P, EVAL_FORM, api=True),
    Endpoint("api-eval", "get", Role.REVIEWER, EV, api=True),
    Endpoint("api-eval-cancel", "post", Role.LEAD, EV, api=True),
    Endpoint("api-eval-review", "post", Role.LEAD, FEV, lambda ctx: {"which": "all"}, api=True),
    Endpoint("api-dashboard", "get", Role.REVIEWER, P, api=True),
    Endpoint("api-deployments", "get", Role.REVIEWER, P, api=True),
    Endpoint("api-deployments", "post", Role.LEAD, P, lambda ctx: {"slug": "via-api"}, api=True),
    Endpoint("api-deployment", "get", Role.REVIEWER, DEP, api=True),
    Endpoint("api-deployment-promote", "post", Role.LEAD, DEP, lambda ctx: {
        "model": ctx["model"].id, "prompt_version": ctx["version"].id, "reason": "its eval passed"}, api=True),
    Endpoint("api-deployment-rollback", "post", Role.LEAD, DEP, lambda ctx: {"promotion": ctx["promotion"].id},
             api=True),
    Endpoint("api-deployment-traces", "get", Role.REVIEWER, DEP, api=True),
    Endpoint("api-deployment-traffic", "get", Role.REVIEWER, DEP, api=True),
    Endpoint("api-deployment-candidate-eval", "post", Role.LEAD, DEP, lambda ctx: {"repeats": 1}, api=True),
]
ALL = PAGES + APIS


@pytest.fixture
def ctx(project, people, dataset, prompt_version, settings, tmp_path):
    people[SITE_ADMIN] = UserFactory(username=SITE_ADMIN, is_superuser=True, is_staff=True)
    settings.TASKLLM_MODELS_DIR = _models_folder(tmp_path)
    # A model nobody can reach: the "test connection" endpoint answers with its error, quickly.
    model = Model.objects.create(project=project, name="Unreachable", provider="openai",
                                 base_url="http://127.0.0.1:9/v1", model_id="x", max_retries=0)
    run = Run.objects.create(project=project, prompt_version=prompt_version, model=model, dataset=dataset,
                             record_ids=[], total=0, status=JobStatus.FAILED)
    record = dataset.records.first()
    output = Output.objects.create(run=run, record=record, status="ok", answer={"label": "billing"})
    test_case = TestCase.objects.create(project=project, text="Held out", text_hash="y", expected={"label": "billing"})
    return {
        "project": project, "dataset": dataset, "people": people, "version": prompt_version, "model": model,
        "run": run, "output": output,
        "spare_model": Model.objects.create(project=project, name="Unused", provider="local"),
        "point": TrainingPoint.objects.create(project=project, name="hold means pause"),
        "other_point": TrainingPoint.objects.create(project=project, name="credit means SLA credit"),
        "job": _job(project, model),
        "example": TrainingExample.objects.create(project=project, messages=[], answer={"label": "billing"},
                                                  text="An example", text_hash="x"),
        "membership": Membership.objects.get(project=project, user=people["reviewer"]),
        "import": DatasetImport.objects.create(dataset=dataset, original_name="x.csv", format="csv",
                                               status=JobStatus.SUCCEEDED),
        "test_case": test_case,
        **_paraphrases(test_case, model),
        "test_case_import": TestCaseImport.objects.create(project=project, original_name="cases.jsonl",
                                                          status=JobStatus.SUCCEEDED),
        "eval": EvalRun.objects.create(project=project, model=model, prompt_version=prompt_version,
                                       test_case_ids=[], status=JobStatus.FAILED),
        **_deployment(project, model, prompt_version),
        **_watch(project),
        "finished_eval": _finished_eval(project, model, prompt_version),
        "model_export": _model_export(project),
    }


def _paraphrases(test_case, model) -> dict:
    request = ParaphraseRequest.objects.create(test_case=test_case, model=model, count=1, status=JobStatus.SUCCEEDED)
    return {"paraphrase_request": request,
            "proposal": ParaphraseProposal.objects.create(request=request, test_case=test_case, text="Held, again")}


def _models_folder(tmp_path):
    """A models folder holding one model that can be registered (its weights a one-tensor safetensors file)."""
    import json
    import struct

    folder = tmp_path / "models" / "tiny"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"model_type": "llama", "architectures": ["LlamaForCausalLM"]}))
    (folder / "tokenizer_config.json").write_text(json.dumps({"chat_template": "{{ messages }}"}))
    header = json.dumps({"w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}}).encode()
    (folder / "model.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + bytes(16))
    return tmp_path / "models"


def _deployment(project, model, prompt_version) -> dict:
    from apps.deployments.models import Deployment, Promotion, Trace
    from apps.deployments.services import key_create

    deployment = Deployment.objects.create(project=project, slug="router")
    EvalRun.objects.create(project=project, model=model, prompt_version=prompt_version, test_case_ids=[],
                           status=JobStatus.SUCCEEDED, gate_passed=True, finished_at=timezone.now())
    first, second = (Promotion.objects.create(deployment=deployment, model=model, prompt_version=prompt_version,
                                              reason=reason) for reason in ("first", "second"))
    deployment.model, deployment.prompt_version, deployment.current_promotion = model, prompt_version, second
    deployment.save()
    key, secret = key_create(deployment=deployment, name="App")
    trace = Trace.objects.create(deployment=deployment, endpoint="predict", text="x", status="ok",
                                 created_at=timezone.now())
    return {"deployment": deployment, "promotion": first, "deployment_key": key, "key_secret": secret,
            "trace": trace}


def _finished_eval(project, model, prompt_version):
    """A finished eval with one answer (to send to review)."""
    from apps.evals.models import EvalOutput

    case = TestCase.objects.create(project=project, text="Also held out", text_hash="z", expected={"label": "billing"})
    eval_run = EvalRun.objects.create(project=project, model=model, prompt_version=prompt_version,
                                      test_case_ids=[case.id], status=JobStatus.SUCCEEDED, total=1)
    EvalOutput.objects.create(eval_run=eval_run, test_case=case, answer={"label": "billing"}, status="ok",
                              passed=True, auto_passed=True, auto_by="rule")
    return eval_run


def _watch(project) -> dict:
    from django.utils import timezone

    from apps.deployments.models import Alert, AlertRule, EvalSchedule, Webhook, WebhookDelivery

    deployment = project.deployments.get()
    rule = AlertRule.objects.create(project=project, event="eval.failed")
    webhook = Webhook.objects.create(project=project, url="https://hooks.example.com/x", secret="s")
    return {"schedule": EvalSchedule.objects.create(deployment=deployment, next_run_at=timezone.now()),
            "alert_rule": rule, "webhook": webhook,
            "alert": Alert.objects.create(project=project, rule=rule, event=rule.event, what="Eval 1 failed", key="k"),
            "delivery": WebhookDelivery.objects.create(webhook=webhook, event="eval.failed", body="{}")}


def _job(project, model):
    from django.core.files.base import ContentFile

    from apps.tuning.models import FineTuneJob

    job = FineTuneJob(project=project, base_model=model, backend="openai", training_file_sha256="0" * 64)
    job.training_file.save("t.jsonl", ContentFile(b"{}\n"), save=False)
    job.save()
    return job


def _model_export(project):
    """A finished export of a succeeded local fine-tune (whose model has an adapter, so it can be exported again)."""
    from django.core.files.base import ContentFile

    from apps.tuning.models import ModelExport

    base = Model.objects.create(name="Bundled", provider="local")
    tuned = Model.objects.create(project=project, name="Tuned", provider="local", parent=base, adapter="adapters/x")
    job = _job(project, base)
    job.backend, job.status, job.result_model = "local", JobStatus.SUCCEEDED, tuned
    job.save()
    export = ModelExport(finetune_job=job, format="adapter", status=JobStatus.SUCCEEDED)
    export.archive.save("x.tar.gz", ContentFile(b"\x1f\x8b"), save=False)
    export.save()
    return export


def call(endpoint: Endpoint, ctx, user, method=None):
    url = reverse(endpoint.name, kwargs=endpoint.kwargs(ctx)) + endpoint.query
    method = method or endpoint.method
    if endpoint.api:
        client = api_as(user)
        fmt = "multipart" if endpoint.name in ("api-imports", "api-test-case-import") else "json"
        if method == "get":
            return client.get(url)
        return getattr(client, method)(url, endpoint.data(ctx), format=fmt)
    client = login(user) if user else Client()
    if method in ("get", "delete", "put"):
        return getattr(client, method)(url)
    return client.post(url, endpoint.data(ctx))


@pytest.mark.parametrize("endpoint", ALL, ids=str)
def test_lowest_allowed_role_succeeds(endpoint, ctx):
    response = call(endpoint, ctx, ctx["people"][endpoint.min_role])
    assert response.status_code in endpoint.ok, getattr(response, "content", b"")[:500]


@pytest.mark.parametrize("endpoint", ALL, ids=str)
def test_anonymous_must_log_in(endpoint, ctx):
    response = call(endpoint, ctx, None)
    if endpoint.api:
        assert response.status_code == 401
    else:
        assert response.status_code == 302
        assert response.url.startswith(reverse("login"))


@pytest.mark.parametrize("endpoint", ALL, ids=str)
def test_outsider_gets_404(endpoint, ctx):
    assert call(endpoint, ctx, ctx["people"]["outsider"]).status_code == 404


@pytest.mark.parametrize("endpoint", [e for e in ALL if e.min_role != Role.REVIEWER], ids=str)
def test_role_too_low_gets_403(endpoint, ctx):
    below = ROLE_BELOW[endpoint.min_role]
    assert call(endpoint, ctx, ctx["people"][below]).status_code == 403


@pytest.mark.parametrize("endpoint", ALL, ids=str)
def test_wrong_method_gets_405(endpoint, ctx):
    wrong = "put" if endpoint.api else "delete"  # no page accepts DELETE, no endpoint PUT
    assert call(endpoint, ctx, ctx["people"][Role.ADMIN], method=wrong).status_code == 405


# The endpoints applications call take a deployment key only: no key, a member's token or a member's session → 401.
KEY_ENDPOINTS = [
    ("post", lambda ctx: "/api/deployments/router/predict", {"text": "x"}),
    ("post", lambda ctx: "/v1/chat/completions", {"model": "router", "messages": [{"role": "user", "content": "x"}]}),
    ("post", lambda ctx: f"/api/traces/{ctx['trace'].id}/feedback", {"thumbs": "up"}),
]


@pytest.mark.parametrize("method,url,body", KEY_ENDPOINTS)
def test_key_endpoints_refuse_members(method, url, body, ctx):
    import json

    from rest_framework.authtoken.models import Token

    admin = ctx["people"][Role.ADMIN]
    token = Token.objects.create(user=admin)
    data = json.dumps(body)
    assert Client().post(url(ctx), data, content_type="application/json").status_code == 401
    for header in (f"Token {token.key}", f"Bearer {token.key}"):
        assert Client().post(url(ctx), data, content_type="application/json",
                             HTTP_AUTHORIZATION=header).status_code == 401
    assert login(admin).post(url(ctx), data, content_type="application/json").status_code == 401
    assert Client().get(url(ctx), HTTP_AUTHORIZATION=f"Bearer {ctx['key_secret']}").status_code == 405
