"""The model card: a README.md inside every export, saying what the model is, how it was trained and how it did."""

from apps.core.dates import when_text

from . import selectors
from .models import FineTuneJob

BUNDLED_HF_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"


def base_model_id(job: FineTuneJob) -> str:
    """The base model's Hugging Face id (the bundled model's, unless the base row names one); a model from the
    models folder is named by its folder there."""
    return job.base_model.model_id or job.base_model.local_path or BUNDLED_HF_ID


def latest_eval(job: FineTuneJob):
    """The model's latest finished eval (read through the model: evals imports tuning, so not the other way)."""
    if job.result_model_id is None:
        return None
    return (job.result_model.eval_runs.filter(status__in=("SUCCEEDED", "COMPLETED_WITH_ERRORS"))
            .select_related("prompt_version").order_by("-finished_at", "-id").first())


def served_prompt_version(job: FineTuneJob):
    """The prompt version the model answers with: a deployment's that points at it, else its latest eval's."""
    from django.apps import apps

    if job.result_model_id is None:
        return None
    deployment = (apps.get_model("deployments", "Deployment").objects
                  .filter(model=job.result_model, prompt_version__isnull=False)
                  .select_related("prompt_version").order_by("-created_at", "-id").first())
    if deployment is not None:
        return deployment.prompt_version
    eval_run = latest_eval(job)
    return eval_run.prompt_version if eval_run else None


def system_message(job: FineTuneJob) -> str:
    """The system message of the prompt version the model answers with ('' when none is known)."""
    from apps.prompts.rendering import render_messages

    version = served_prompt_version(job)
    if version is None:
        return ""
    return next((m["content"] for m in render_messages(job.project, version, "") if m["role"] == "system"), "")


def _training_lines(job: FineTuneJob) -> list[str]:
    counts, when = job.point_example_counts, ""
    if counts is None:  # a job from before the counts were frozen with its file
        point_ids = set(job.points.values_list("id", flat=True))
        counts = [c for c in selectors.example_counts(job.project) if not point_ids or c["id"] in point_ids]
        when = " (counted now, not when the file was frozen)"
    seconds = (job.finished_at - job.started_at).total_seconds() if job.finished_at and job.started_at else None
    losses = [m["loss"] for m in job.metrics if "loss" in m]
    val_losses = [m["val_loss"] for m in job.metrics if "val_loss" in m]
    lines = [
        f"- Training file sha256: `{job.training_file_sha256}`",
        f"- Examples: {job.example_count} training, {job.validation_count} validation",
        *[f"  - training point “{c['name']}”: {c['examples']} examples{when}" for c in counts],
        "- Hyperparameters: " + ", ".join(f"{k} {v}" for k, v in job.hyperparameters.items()),
        f"- Steps: {job.step} of {job.total_steps}",
        f"- Training time: {seconds:.0f} s" if seconds is not None else "- Training time: unknown",
        f"- Final training loss: {losses[-1]}" if losses else "- Final training loss: none recorded",
    ]
    if val_losses:
        lines.append(f"- Final validation loss: {val_losses[-1]}")
    return lines


def _eval_lines(eval_run) -> list[str]:
    if eval_run is None:
        return ["No finished eval of this model yet: evaluate it in TaskLLM before relying on it."]
    verdict = {True: "passed", False: "failed", None: "no gate"}[eval_run.gate_passed]
    lines = [f"Eval {eval_run.id} with prompt version {eval_run.prompt_version} ({eval_run.repeats} repeats), "
             f"finished {when_text(eval_run.finished_at)} UTC. Gate: **{verdict}**.", "",
             "| Training point | Test cases | Pass rate (95% interval) | Consistency | Latency p50 / p95 |",
             "|---|---|---|---|---|"]
    for result in eval_run.results.select_related("point").order_by("point_id"):
        name = result.point.name if result.point else "All"
        lines.append(f"| {name} | {result.test_cases} | {result.pass_rate:.0%} ({result.ci_low:.0%}–"
                     f"{result.ci_high:.0%}) | {result.consistency:.0%} | {result.latency_p50_ms:.0f} / "
                     f"{result.latency_p95_ms:.0f} ms |")
    return lines


def model_card(job: FineTuneJob, *, export_format: str, serve: str) -> str:
    """The README.md of an export of `job`'s model; `serve` is the format's own how-to-run section."""
    eval_run = latest_eval(job)
    return "\n".join([
        f"# {job.result_model.name if job.result_model else job}", "",
        f"A LoRA fine-tune of `{base_model_id(job)}` made with TaskLLM for the project “{job.project.name}” "
        f"(fine-tune job {job.id}). Export format: {export_format}.", "",
        "## Intended use", "",
        f"The {job.project.get_task_kind_display().lower()} task of this project"
        + (f" (labels: {', '.join(job.project.labels)})" if job.project.labels else "")
        + ", answered as JSON with the prompt version named below. It learned from this project's reviewed examples "
        "only: check its eval before using it on other data.",
        "",
        "## Training", "", *_training_lines(job), "",
        "## Evaluation", "", *_eval_lines(eval_run), "",
        "## How to run it", "", serve, "",
    ])
