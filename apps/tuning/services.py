"""Fine-tune jobs: validate and freeze the training file, launch, train or poll, cancel, register the new model."""

import logging
import shutil
import tempfile
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from apps.accounts.audit import audit_record
from apps.core.exceptions import ApplicationError
from apps.core.jobs import (
    FAIL,
    RESUME,
    interactive_queue,
    job_cancel,
    job_claim,
    job_enqueue,
    job_finish,
    job_heartbeat,
)
from apps.core.models import ACTIVE_STATUSES, JobStatus
from apps.llm.client import ModelCallError
from apps.llm.models import Model, Provider

from . import selectors, training_file
from .models import Backend, FineTuneJob, FineTunePhase

logger = logging.getLogger(__name__)

DEFAULTS = {"epochs": 3, "learning_rate": 2e-4, "batch_size": 4, "lora_r": 16, "lora_alpha": 32,
            "validation_share": 0.0, "max_seq_length": 2048, "gradient_accumulation": 1,
            "gradient_checkpointing": False, "load_in_4bit": False, "lora_targets": "all-linear"}
# Each hyperparameter's type and bounds (for a choice: its values): the launch form, the API and this service
# check the same table. The last five shape local training to the hardware (see tuning.backends.local): the
# effective batch is batch_size x gradient_accumulation; a 4-bit base needs CUDA and bitsandbytes.
BOUNDS = {"epochs": (int, 1, 50), "learning_rate": (float, 1e-6, 1e-2), "batch_size": (int, 1, 64),
          "lora_r": (int, 1, 256), "lora_alpha": (int, 1, 512), "validation_share": (float, 0.0, 0.5),
          "learning_rate_multiplier": (float, 0.01, 10.0), "max_seq_length": (int, 32, 32768),
          "gradient_accumulation": (int, 1, 64), "gradient_checkpointing": (bool, False, True),
          "load_in_4bit": (bool, False, True), "lora_targets": (str, "all-linear", "attention", "attention-mlp")}


def hyperparameters_clean(hyperparameters: dict | None) -> dict:
    """The defaults overlaid with `hyperparameters`, every value of a known name, type and range."""
    problems, clean = [], dict(DEFAULTS)
    for name, value in (hyperparameters or {}).items():
        if value is None:
            continue
        if name not in BOUNDS:
            problems.append(f"Unknown hyperparameter {name!r} (known: {', '.join(BOUNDS)}).")
            continue
        kind, *allowed = BOUNDS[name]
        if kind is bool or kind is str:
            problem = _choice_problem(name, value, kind, allowed)
            if problem:
                problems.append(problem)
            else:
                clean[name] = value
            continue
        low, high = allowed
        if isinstance(value, bool) or not isinstance(value, int | float) or (kind is int and value != int(value)):
            problems.append(f"{name} must be {'a whole number' if kind is int else 'a number'}.")
        elif not low <= value <= high:
            problems.append(f"{name} must be between {low:g} and {high:g}.")
        else:
            clean[name] = kind(value)
    if problems:
        raise ApplicationError("Check the hyperparameters.", problems=problems)
    return clean


def _choice_problem(name: str, value, kind: type, allowed: list) -> str:
    if kind is bool:
        return "" if isinstance(value, bool) else f"{name} must be true or false."
    return "" if isinstance(value, str) and value in allowed else f"{name} must be one of {', '.join(allowed)}."


def _point_counts(project, points) -> list[dict]:
    """Each chosen training point's examples (every point's when none is chosen), as the training file froze them."""
    chosen = {p.id for p in points}
    return [{"name": c["name"], "examples": c["examples"]} for c in selectors.example_counts(project)
            if not chosen or c["id"] in chosen]


@transaction.atomic
def finetune_launch(*, project, base_model: Model, backend: str, points=(), hyperparameters: dict | None = None,
                    user=None, launch: bool = True) -> FineTuneJob:
    """Check the examples, freeze them into a training file (with its hash), and queue the job.

    Nothing starts when a check fails: the ApplicationError lists every reason.
    """
    if backend == Backend.LOCAL and base_model.provider != Provider.LOCAL:
        raise ApplicationError("The local trainer fine-tunes local models: choose the bundled model or one "
                               "registered from the models folder as the base.")
    if backend == Backend.OPENAI and base_model.provider != Provider.OPENAI:
        raise ApplicationError("The fine-tuning API needs an OpenAI-compatible base model.")
    if base_model.project_id not in (None, project.id):
        raise ApplicationError("That model belongs to another project.")
    hp = hyperparameters_clean(hyperparameters)
    frozen = training_file.build(project, backend=backend, point_ids=[p.id for p in points],
                                 validation_share=float(hp["validation_share"]))
    if frozen.problems:
        raise ApplicationError("The training file cannot be used yet.", problems=frozen.problems[:50])
    job = FineTuneJob(project=project, base_model=base_model, backend=backend, hyperparameters=hp,
                      training_file_sha256=frozen.sha256, example_count=len(frozen.training),
                      validation_count=len(frozen.validation), token_estimate=frozen.token_estimate,
                      point_example_counts=_point_counts(project, points), created_by=user)
    job.training_file.save(f"job-{frozen.sha256[:12]}-train.jsonl", ContentFile(frozen.jsonl(frozen.training)),
                           save=False)
    if frozen.validation:
        job.validation_file.save(f"job-{frozen.sha256[:12]}-validation.jsonl",
                                 ContentFile(frozen.jsonl(frozen.validation)), save=False)
    job.save()
    job.points.set(points)
    _event(job, f"Froze {job.example_count} training and {job.validation_count} validation examples "
                f"(sha256 {frozen.sha256[:12]}…).")
    if launch:
        finetune_enqueue(job)
    audit_record("finetune.launched", project=project, target=job, actor=user,
                 details={"base_model": base_model.id, "backend": backend})
    return job


def finetune_enqueue(job: FineTuneJob, *, countdown: float = 0) -> None:
    """Queue the job's task: the local trainer on the `train` queue (its route), the API's polls as short work."""
    from . import tasks

    if job.backend == Backend.LOCAL:
        job_enqueue(tasks.finetune_train_local_task, job, countdown=countdown)
    else:
        job_enqueue(tasks.finetune_remote_task, job, queue=interactive_queue(), countdown=countdown)


def finetune_queue(job: FineTuneJob) -> str:
    return "train" if job.backend == Backend.LOCAL else interactive_queue()


def finetune_on_worker_lost(job: FineTuneJob) -> str:
    """A local training whose worker died goes on from its last checkpoint on the next worker, or ends FAILED
    when it has none (it must not silently start over); a remote job is only looked at, so its polling starts
    again."""
    if job.backend == Backend.LOCAL and checkpoint_step(job) is None:
        return FAIL
    return RESUME


def _event(job: FineTuneJob, message: str) -> None:
    job.events = [*job.events, {"at": timezone.now().isoformat(timespec="seconds"), "message": message}]
    FineTuneJob.objects.filter(id=job.id).update(events=job.events)


def finetune_cancel(*, job: FineTuneJob) -> None:
    """Stop a job: the local trainer notices within a step; the API gets a cancel request."""
    if not job.is_active:
        raise ApplicationError("This job has already finished.")
    if job.backend == Backend.OPENAI and job.external_job_id:
        try:
            from .backends import openai_api

            openai_api.cancel(model=job.base_model, job_id=job.external_job_id)
        except ModelCallError as exc:
            raise ApplicationError(str(exc)) from None
    job_cancel(job)
    _event(job, "Cancelled.")
    audit_record("finetune.cancelled", project=job.project, target=job)


def _claim(job_id: int) -> FineTuneJob | None:
    if not job_claim(FineTuneJob, job_id):
        return None
    return FineTuneJob.objects.select_related("base_model", "project").get(id=job_id)


def _finish(job: FineTuneJob, status: str, *, error: str = "", result_model=None) -> None:
    # A remote job mirrors the API's state, so it may be QUEUED there while ours has started.
    FineTuneJob.objects.filter(id=job.id, status=JobStatus.QUEUED, started_at__isnull=False).update(
        status=JobStatus.RUNNING)
    job_finish(job, status, error=error, result_model=result_model)


# --- the local LoRA trainer ----------------------------------------------------------------

def finetune_train_local(*, job_id: int) -> FineTuneJob:
    """Train the adapter, reporting every step; save it and register the fine-tuned model."""
    from .backends import local

    job = _claim(job_id)
    if job is None:
        return FineTuneJob.objects.get(id=job_id)
    hp = job.hyperparameters
    _event(job, "Training started on " + ("the GPU" if _cuda() else "the CPU") + ".")
    resume_from = ""
    try:
        resume_from = _checkpoint_fetch(job)
        folder = local.train(
            training=local.lines_of(job.training_file.read()),
            validation=local.lines_of(job.validation_file.read()) if job.validation_file else [],
            hp=_local_hyperparameters(hp), base=job.base_model,
            on_step=lambda step, total, loss: _report_step(job, step, total, loss),
            on_validation=lambda step, loss: _report_validation(job, step, loss),
            should_stop=lambda: _cancelled(job),
            on_phase=lambda phase: finetune_phase_set(job=job, phase=phase),
            on_note=lambda note: _event(job, note),
            checkpoint_every=settings.TASKLLM_FINETUNE_CHECKPOINT_STEPS, resume_from=resume_from,
            on_checkpoint=lambda checkpoint, step: _checkpoint_store(job, checkpoint, step),
        )
    except local.Stopped:
        _checkpoint_discard(job)
        _event(job, f"Stopped at step {job.step} of {job.total_steps}.")
        return job
    except Exception as exc:  # noqa: BLE001 - a failed training must end visibly on the job
        logger.exception("Fine-tune %s failed", job.id)
        _checkpoint_discard(job)
        _finish(job, JobStatus.FAILED, error=f"Training stopped: {exc}")
        return job
    finally:
        if resume_from:
            shutil.rmtree(resume_from, ignore_errors=True)
    _checkpoint_discard(job)
    model = _register_local_model(job, folder)
    _finish(job, JobStatus.SUCCEEDED, result_model=model)
    _event(job, f"Done: registered the model {model.name}.")
    return job


# --- checkpoints: <storage>/checkpoints/job-<id>-<created>/step-<n>/ (adapter, optimizer.pt, trainer_state.json) --

def job_folder(job: FineTuneJob, kind: str) -> str:
    """Where a job's files of a kind ("checkpoints", "adapters") go in storage: named by the job's id and creation
    time, so that a job never meets the files of an older one with the same id (a database made again while the
    storage was kept), nor does the local model cache, which knows an adapter by its name."""
    return f"{kind}/job-{job.id}-{job.created_at:%Y%m%dT%H%M%S%f}"


def _checkpoint_root(job: FineTuneJob) -> str:
    return job_folder(job, "checkpoints")


def checkpoint_step(job: FineTuneJob) -> int | None:
    """The step of the job's last complete checkpoint (None: none). A checkpoint is complete once its
    trainer_state.json, written last, is in storage, so a worker that died while saving one leaves the one before."""
    root = _checkpoint_root(job)
    try:
        folders = default_storage.listdir(root)[0]
    except (FileNotFoundError, NotADirectoryError):
        return None
    steps = [int(name.removeprefix("step-")) for name in folders if name.removeprefix("step-").isdigit()
             and default_storage.exists(f"{root}/{name}/trainer_state.json")]
    return max(steps, default=None)


def _checkpoint_store(job: FineTuneJob, folder: str, step: int) -> None:
    """Save the trainer's checkpoint through the storage API, then drop the one before."""
    previous, target = checkpoint_step(job), f"{_checkpoint_root(job)}/step-{step}"
    _storage_folder_delete(target)  # a half-saved one, from a worker that died saving it
    files = sorted(Path(folder).iterdir(), key=lambda path: path.name == "trainer_state.json")
    for path in files:
        with open(path, "rb") as handle:
            default_storage.save(f"{target}/{path.name}", File(handle))
    shutil.rmtree(folder, ignore_errors=True)
    if previous is not None and previous != step:
        _storage_folder_delete(f"{_checkpoint_root(job)}/step-{previous}")


def _checkpoint_fetch(job: FineTuneJob) -> str:
    """A local copy of the job's last checkpoint ("" when it has none), and the job's record brought back to it."""
    step = checkpoint_step(job)
    if step is None:
        return ""
    source, folder = f"{_checkpoint_root(job)}/step-{step}", tempfile.mkdtemp(prefix="taskllm-resume-")
    for name in default_storage.listdir(source)[1]:
        with default_storage.open(f"{source}/{name}", "rb") as stored, open(Path(folder) / name, "wb") as local:
            shutil.copyfileobj(stored, local)
    job.metrics = [m for m in job.metrics if m["step"] <= step]
    FineTuneJob.objects.filter(id=job.id).update(metrics=job.metrics, step=step)
    _event(job, f"Resumed from the checkpoint at step {step}.")
    return folder


def _checkpoint_discard(job: FineTuneJob) -> None:
    root = _checkpoint_root(job)
    try:
        folders = default_storage.listdir(root)[0]
    except (FileNotFoundError, NotADirectoryError):
        return
    for name in folders:
        _storage_folder_delete(f"{root}/{name}")


def _storage_folder_delete(name: str) -> None:
    try:
        files = default_storage.listdir(name)[1]
    except (FileNotFoundError, NotADirectoryError):
        return
    for file_name in files:
        default_storage.delete(f"{name}/{file_name}")


def _local_hyperparameters(hp: dict):
    """The trainer's settings from a job's stored hyperparameters (a job launched before a setting existed gets
    its default)."""
    from .backends import local

    known = {**DEFAULTS, **hp}
    names = [name for name in local.Hyperparameters.__dataclass_fields__ if name in known]
    return local.Hyperparameters(**{name: BOUNDS[name][0](known[name]) for name in names})


def _cuda() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except ImportError:
        return False


def finetune_phase_set(*, job: FineTuneJob, phase: str) -> None:
    """Say where the trainer is (loading the model, tokenising, training, saving); training starts the ETA's clock."""
    job.phase = FineTunePhase(phase)
    fields = {"phase": job.phase}
    if job.phase == FineTunePhase.TRAINING:
        job.training_started_at = fields["training_started_at"] = timezone.now()
    FineTuneJob.objects.filter(id=job.id).update(**fields)
    _event(job, job.phase.label + "…")
    job_heartbeat(job)


def _report_step(job: FineTuneJob, step: int, total: int, loss: float) -> None:
    job.step, job.total_steps = step, total
    job.metrics = [*job.metrics, {"step": step, "loss": round(loss, 5)}]
    FineTuneJob.objects.filter(id=job.id).update(step=step, total_steps=total, metrics=job.metrics)
    job_heartbeat(job, progress=int(100 * step / total) if total else 0)


def _report_validation(job: FineTuneJob, step: int, loss: float) -> None:
    job.metrics = [*job.metrics, {"step": step, "val_loss": round(loss, 5)}]
    FineTuneJob.objects.filter(id=job.id).update(metrics=job.metrics)


def _cancelled(job: FineTuneJob) -> bool:
    return not job_heartbeat(job)


def _register_local_model(job: FineTuneJob, folder: str) -> Model:
    storage_folder = job_folder(job, "adapters")
    for path in Path(folder).iterdir():
        with open(path, "rb") as handle:
            default_storage.save(f"{storage_folder}/{path.name}", ContentFile(handle.read()))
    shutil.rmtree(folder, ignore_errors=True)
    base = job.base_model
    return Model.objects.create(project=job.project, name=f"{base.name} · LoRA fine-tune {job.id}",
                                provider=Provider.LOCAL, parent=base, adapter=storage_folder,
                                local_path=base.local_path, max_tokens=base.max_tokens, temperature=base.temperature,
                                created_by=job.created_by)


# --- an OpenAI-compatible fine-tuning API ---------------------------------------------------

def finetune_remote_step(*, job_id: int) -> tuple[FineTuneJob, bool]:
    """Start the remote job, or look at it once; returns the job and whether to look again later."""
    from .backends import openai_api

    job = FineTuneJob.objects.select_related("base_model", "project").get(id=job_id)
    if not job.is_active:
        return job, False
    try:
        if not job.external_job_id:
            if _claim(job.id) is None:
                return job, False
            job.refresh_from_db()
            file_id, external_id = openai_api.start(
                model=job.base_model, training=job.training_file.read(),
                validation=job.validation_file.read() if job.validation_file else b"",
                hyperparameters=_api_hyperparameters(job.hyperparameters), suffix=f"taskllm-{job.id}")
            FineTuneJob.objects.filter(id=job.id).update(external_file_id=file_id, external_job_id=external_id)
            _event(job, f"Uploaded the training file ({file_id}) and created the job {external_id}.")
            return job, True
        state = openai_api.poll(model=job.base_model, job_id=job.external_job_id,
                                after_event=(job.events[-1].get("id") if job.events else None))
    except ModelCallError as exc:
        _finish(job, JobStatus.FAILED, error=str(exc))
        return job, False
    for event in state["events"]:
        job.events = [*job.events, {"at": timezone.now().isoformat(timespec="seconds"), **event}]
    FineTuneJob.objects.filter(id=job.id).update(events=job.events, heartbeat_at=timezone.now())
    if state["status"] == JobStatus.SUCCEEDED:
        model = _register_remote_model(job, state["fine_tuned_model"])
        _finish(job, JobStatus.SUCCEEDED, result_model=model)
        return job, False
    if state["status"] in (JobStatus.FAILED, JobStatus.CANCELLED):
        _finish(job, state["status"], error=state["error"])
        return job, False
    FineTuneJob.objects.filter(id=job.id, status__in=ACTIVE_STATUSES).update(status=state["status"])
    return job, True


def _api_hyperparameters(hp: dict) -> dict:
    return {"n_epochs": int(hp["epochs"]), "batch_size": int(hp["batch_size"]),
            "learning_rate_multiplier": float(hp.get("learning_rate_multiplier") or 1.0)}


def _register_remote_model(job: FineTuneJob, model_id: str) -> Model:
    base = job.base_model
    return Model.objects.create(project=job.project, name=f"{base.name} · fine-tune {job.id}",
                                provider=Provider.OPENAI, base_url=base.base_url, model_id=model_id,
                                parent=base, temperature=base.temperature,
                                max_tokens=base.max_tokens, timeout_seconds=base.timeout_seconds,
                                max_retries=base.max_retries, created_by=job.created_by)
