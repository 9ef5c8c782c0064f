"""First-start set-up for the embedded defaults: demo logins and a demo project, once."""

import os
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.files import File
from django.core.management.base import BaseCommand
from django.db import transaction

from apps.accounts.models import Membership, Role
from apps.datasets.services import dataset_create, dataset_import_start
from apps.llm.models import Model, Provider
from apps.projects.models import Project
from apps.projects.services import project_create
from apps.prompts.models import PromptStyle
from apps.prompts.services import prompt_create

DEMO_DIR = Path(__file__).resolve().parents[2] / "data"
DEMO_USERS = [("admin", Role.ADMIN, True), ("lead", Role.LEAD, False), ("reviewer", Role.REVIEWER, False)]
DEMO_PROJECT = "Support ticket router (demo)"
GLOSSARY = [
    {"term": "hold", "definition": "A customer-requested pause of their account or deliveries. "
     "A block placed by our payment checks is a payment review, not a hold."},
    {"term": "credit", "definition": "A service credit owed under the SLA after an outage. "
     "Credit terms on invoices are billing."},
    {"term": "escalation", "definition": "A request to involve a manager or a production-down incident; "
     "an angry tone alone is not an escalation."},
]
LABELS = ["account_hold", "payment_review", "service_credit", "billing", "escalation", "technical"]
LOCAL_MODEL = "SmolLM2-135M-Instruct (bundled)"
SYSTEM = "You route support tickets to the team that handles them. The teams: {labels}."
DEMO_PROMPTS = [
    ("Router: plain", PromptStyle.PLAIN, SYSTEM),
    ("Router: chain of thought", PromptStyle.CHAIN_OF_THOUGHT, SYSTEM),
    ("Router: our definitions", PromptStyle.DEFINITIONS, SYSTEM),
]
NER_PROJECT = "Clinical trial entities (demo)"
NER_TYPES = ["DRUG", "DOSE", "CONDITION", "BIOMARKER"]
NER_GUIDELINES = (
    "Mark every drug, dose, condition and biomarker in sentences from trial protocols. A biomarker is a measurable "
    "marker (HER2-positive, HbA1c, EGFR mutation), not the condition it signals.\n\n"
    "Honest note: the bundled 135M model finds few of these entities; it is here so the pages and the loop can be "
    "tried offline. Point a run at a larger OpenAI-compatible model to see NER work.")


class Command(BaseCommand):
    help = "Create the demo logins and demo project if they do not exist yet (safe to run on every start)."

    def handle(self, *args, **options):
        password = os.environ.get("TASKLLM_DEMO_PASSWORD", "taskllm")
        with transaction.atomic():
            users = {name: self._user(name, is_admin, password) for name, _role, is_admin in DEMO_USERS}
            projects = [Project.objects.filter(name=DEMO_PROJECT).first() or self._demo_project(users["admin"]),
                        Project.objects.filter(name=NER_PROJECT).first() or self._ner_project(users["admin"])]
            for project in projects:
                for name, role, _is_admin in DEMO_USERS:
                    Membership.objects.get_or_create(project=project, user=users[name], defaults={"role": role})
            if not Model.objects.filter(provider=Provider.LOCAL, project=None).exists():
                Model.objects.create(name=LOCAL_MODEL, provider=Provider.LOCAL, max_tokens=128)
        self.stdout.write(f"Demo logins (password '{password}'): admin, lead, reviewer")

    def _user(self, username: str, is_admin: bool, password: str):
        User = get_user_model()
        user = User.objects.filter(username=username).first()
        if user is None:
            user = User.objects.create_user(username=username, password=password,
                                            is_staff=is_admin, is_superuser=is_admin)
        return user

    def _demo_project(self, admin) -> Project:
        project = project_create(
            user=admin, name=DEMO_PROJECT, task_kind="classification", labels=LABELS, glossary=GLOSSARY,
            guidelines="Route each support ticket to the team that handles it. Words in the glossary "
            "carry our own meaning, not their everyday one.",
        )
        dataset = dataset_create(project=project, name="Support tickets", user=admin,
                                 description="Hand-written tickets where everyday words carry our own meaning.")
        with open(DEMO_DIR / "support_tickets.jsonl", "rb") as handle:
            dataset_import_start(dataset=dataset, upload=File(handle, name="support_tickets.jsonl"),
                                 file_format="jsonl", user=admin, inline=True)
        for name, style, system in DEMO_PROMPTS:
            prompt_create(project=project, name=name, style=style, system=system, user_template="Ticket: {text}",
                          user=admin)
        return project

    def _ner_project(self, admin) -> Project:
        project = project_create(user=admin, name=NER_PROJECT, task_kind="ner", entity_types=NER_TYPES,
                                 guidelines=NER_GUIDELINES, f1_threshold=1.0)
        dataset = dataset_create(project=project, name="Trial protocol sentences", user=admin,
                                 description="Hand-written sentences in the style of clinical trial protocols.")
        with open(DEMO_DIR / "clinical_trial_ner.jsonl", "rb") as handle:
            dataset_import_start(dataset=dataset, upload=File(handle, name="clinical_trial_ner.jsonl"),
                                 file_format="jsonl", user=admin, inline=True)
        prompt_create(project=project, name="Trial entities", style=PromptStyle.PLAIN,
                      system="You mark entities in clinical trial protocol sentences. Entity types: {entity_types}.",
                      user_template="Sentence: {text}", user=admin)
        return project
