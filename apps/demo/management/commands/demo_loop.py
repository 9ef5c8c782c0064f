"""The whole loop on the demo project and the bundled model, scripted: what a lead and a reviewer do by hand.

baseline evals -> a run over the training split, reviewed (failures corrected and tagged with their training point)
-> held-out test cases per point -> a local fine-tune -> an eval of the fine-tuned model with the plain prompt,
compared with the base model's chain-of-thought eval -> the dashboard shows the change per point.
"""

import time

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from apps.core.exceptions import ApplicationError
from apps.datasets.models import Record
from apps.demo.management.commands.taskllm_setup import DEMO_PROJECT, LOCAL_MODEL
from apps.evals.models import EvalRun
from apps.evals.selectors import result_rows
from apps.evals.services import eval_create, eval_execute
from apps.llm.models import Model
from apps.projects.models import Project
from apps.prompts.models import PromptVersion
from apps.review.services import grade_submit, points_by_names, test_case_create, training_example_create
from apps.runs.services import run_create, run_execute
from apps.tuning.services import finetune_launch, finetune_train_local

POINTS = {
    "hold": "'hold' means a customer-requested pause, not a payment block",
    "credit": "'credit' means an SLA service credit, not invoice credit",
    "escalation": "'escalation' means a manager or production down, not an angry tone",
}


class Command(BaseCommand):
    help = "Run the whole loop on the demo project with the bundled model and print the change per training point."

    def add_arguments(self, parser):
        parser.add_argument("--repeats", type=int, default=3, help="Repeats per test case in each eval.")
        parser.add_argument("--epochs", type=int, default=3)
        parser.add_argument("--learning-rate", type=float, default=3e-4)
        parser.add_argument("--quick", action="store_true",
                            help="A few records per point and one epoch: to see it work, not to measure it.")

    def handle(self, *args, **options):
        self.started = time.monotonic()
        project = Project.objects.filter(name=DEMO_PROJECT).first()
        if project is None:
            raise CommandError("No demo project: run `python manage.py taskllm_setup` first (make run does).")
        if project.training_examples.exists():
            raise CommandError("The demo project already has training examples (the loop ran before, or you made "
                               "some): run it on a fresh demo, e.g. after deleting var/ and `make run` again.")
        User = get_user_model()
        lead, reviewer = User.objects.get(username="lead"), User.objects.get(username="reviewer")
        base = Model.objects.get(name=LOCAL_MODEL, project=None)
        prompts = {v.template.name: v for v in PromptVersion.objects.filter(template__project=project)
                   .select_related("template").order_by("template_id", "-number")}
        plain, cot = prompts["Router: plain"], prompts["Router: chain of thought"]
        per_point = 2 if options["quick"] else None
        points = {term: points_by_names(project=project, names=[name], user=lead)[0]
                  for term, name in POINTS.items()}

        self.step("Held-out test cases from the test split, one training point per confusable word")
        made = self.make_test_cases(project, points, lead, per_point)
        self.say(f"{made} new test cases; {project.test_cases.count()} in all")

        repeats = 1 if options["quick"] else options["repeats"]
        self.step(f"Baseline evals of the base model: plain and chain-of-thought prompts, {repeats} repeats")
        base_plain = self.evaluate(project, base, plain, repeats, lead, note="demo loop: base, plain")
        base_cot = self.evaluate(project, base, cot, repeats, lead, note="demo loop: base, chain of thought")

        self.step("A run over the training split, reviewed: failures corrected and tagged, passes kept")
        run = run_create(project=project, prompt_version=plain, model=base, dataset=project.datasets.first(),
                         split="train", q="hold" if per_point else "", user=lead, launch=False)
        run_execute(run_id=run.id)
        failed, kept = self.review(run, points, reviewer, lead, limit=8 * per_point if per_point else None)
        self.say(f"run {run.id}: {failed} failures corrected into training examples, {kept} passes kept as examples")

        self.step("Local fine-tune of the bundled model on the training examples")
        job = finetune_launch(project=project, base_model=base, backend="local", user=lead, hyperparameters={
            "epochs": 1 if options["quick"] else options["epochs"], "learning_rate": options["learning_rate"]},
            launch=False)
        tuning_started = time.monotonic()
        job = finetune_train_local(job_id=job.id)
        tuning_seconds = time.monotonic() - tuning_started
        if job.result_model is None:
            raise CommandError(f"The fine-tune failed: {job.error}")
        self.say(f"fine-tune {job.id}: {job.example_count} examples, {job.total_steps} steps in {tuning_seconds:.0f} s")

        self.step("Eval of the fine-tuned model with the plain prompt, against the base model's chain of thought")
        tuned = self.evaluate(project, job.result_model, plain, repeats, lead, baseline=base_cot,
                              note=f"demo loop: fine-tune {job.id}, plain")
        self.report(base_plain, base_cot, tuned, tuning_seconds)

    def make_test_cases(self, project, points, lead, per_point) -> int:
        made = 0
        for term, point in points.items():
            records = Record.objects.filter(dataset__project=project, split="test", metadata__term=term)
            for record in records.order_by("position")[:per_point]:
                try:
                    test_case_create(project=project, text=record.text, expected={"label": record.label},
                                     points=[point], user=lead, record=record)
                    made += 1
                except ApplicationError:
                    continue  # already a test case (the loop ran before)
        return made

    def evaluate(self, project, model, version, repeats, lead, *, baseline=None, note="") -> EvalRun:
        eval_run = eval_create(project=project, model=model, prompt_version=version, points=[], repeats=repeats,
                               baseline=baseline, user=lead, note=note, launch=False)
        eval_run = eval_execute(eval_id=eval_run.id)
        overall = eval_run.results.get(point=None)
        self.say(f"eval {eval_run.id} ({note}): pass rate {overall.pass_rate:.0%}, "
                 f"consistency {overall.consistency:.2f}, latency p50 {overall.latency_p50_ms:.0f} ms")
        return eval_run

    def review(self, run, points, reviewer, lead, limit=None) -> tuple[int, int]:
        """Grade as a reviewer would, with the dataset's labels as the right answers; the lead keeps passes."""
        failed = kept = 0
        for output in run.outputs.select_related("record").order_by("id")[:limit]:
            record = output.record
            point = points.get(record.metadata.get("term", ""))
            names = [point.name] if point else []
            right = {"label": record.label}
            if output.status == "ok" and output.answer.get("label") == record.label:
                grade_submit(output=output, reviewer=reviewer, verdict="pass")
                training_example_create(project=run.project, messages=output.messages, answer=right,
                                        text=record.text, points=[point] if point else [], user=lead,
                                        record=record)
                kept += 1
            else:
                grade_submit(output=output, reviewer=reviewer, corrected_answer=right, point_names=names)
                failed += 1
        return failed, kept

    def report(self, base_plain, base_cot, tuned, tuning_seconds) -> None:
        self.step("Per training point: pass rate on held-out test cases")
        before_plain = {r.point_id: r.result for r in result_rows(base_plain)}
        before_cot = {r.point_id: r.result for r in result_rows(base_cot)}
        lines = ["| training point | base, plain | base, chain of thought | fine-tuned, plain | change | "
                 "consistency (fine-tuned) |", "|---|---|---|---|---|---|"]
        for row in result_rows(tuned):
            r = row.result
            lines.append(f"| {row.name} | {before_plain[row.point_id].pass_rate:.0%} | "
                         f"{before_cot[row.point_id].pass_rate:.0%} | {r.pass_rate:.0%} "
                         f"({r.test_cases_passed}/{r.test_cases} cases) | {r.verdict or '–'} | {r.consistency:.2f} |")
        cot_latency = base_cot.results.get(point=None).latency_p50_ms
        tuned_latency = tuned.results.get(point=None).latency_p50_ms
        lines += ["", f"Latency p50: base model with the chain-of-thought prompt {cot_latency:.0f} ms, fine-tuned "
                      f"model with the plain prompt {tuned_latency:.0f} ms ({tuned_latency / cot_latency:.0%})."
                  if cot_latency else "",
                  f"Fine-tune: {tuning_seconds:.0f} s. Gate of eval {tuned.id} against eval {base_cot.id}: "
                  f"{'passed' if tuned.gate_passed else 'failed'}. "
                  f"Whole loop: {time.monotonic() - self.started:.0f} s."]
        self.stdout.write("\n".join(lines))

    def step(self, text: str) -> None:
        self.stdout.write(self.style.MIGRATE_HEADING(f"[{time.monotonic() - self.started:5.0f} s] {text}"))

    def say(self, text: str) -> None:
        self.stdout.write(f"         {text}")
