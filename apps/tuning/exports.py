"""Exports of a local fine-tune: the LoRA adapter, the merged weights, or a GGUF (f16, Q8_0) with an Ollama
Modelfile, as a tar.gz with a model card.

Each export is a `ModelExport` job on the shared lifecycle (apps.core.jobs): `export_create` queues it on the
default queue, `export_run` (its Celery task's body) builds the archive in a temporary folder and saves it through
the storage API. Torch is imported only by the builders, in the worker.
"""

import json
import shutil
import tarfile
import tempfile
import time
from functools import partial
from pathlib import Path

from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction

from apps.accounts.audit import audit_record
from apps.core.exceptions import ApplicationError
from apps.core.jobs import RESUME, default_queue, job_claim, job_enqueue, job_finish, job_heartbeat
from apps.core.models import JobStatus

from .gguf_export import chat_template_of, ollama_modelfile, write_gguf
from .model_card import base_model_id, model_card, system_message
from .models import Backend, ExportFormat, FineTuneJob, ModelExport

# --- what people do ----------------------------------------------------------------------------

@transaction.atomic
def export_create(*, job: FineTuneJob, export_format: str, user=None) -> ModelExport:
    """Queue an export of the model `job` produced; refused with the reason when there is nothing to export."""
    if export_format not in ExportFormat.values:
        raise ApplicationError(f"Unknown export format {export_format!r} (known: {', '.join(ExportFormat.values)}).")
    if job.backend != Backend.LOCAL:
        raise ApplicationError("Only a local LoRA fine-tune can be exported: a fine-tuning API keeps its weights.")
    if job.status != JobStatus.SUCCEEDED or job.result_model is None or not job.result_model.adapter:
        raise ApplicationError("This fine-tune has no model to export yet: it must have succeeded.")
    export = ModelExport.objects.create(finetune_job=job, format=export_format, created_by=user)
    export_enqueue(export)
    audit_record("finetune.export_queued", project=job.project, target=export, actor=user,
                 details={"format": export_format})
    return export


def export_enqueue(export: ModelExport, *, countdown: float = 0) -> None:
    from . import tasks

    job_enqueue(tasks.export_task, export, queue=default_queue(), countdown=countdown)


def export_queue(_export: ModelExport) -> str:
    return default_queue()


ON_WORKER_LOST = RESUME  # an export only reads the fine-tune: building it again from the start is safe


# --- what the worker does ----------------------------------------------------------------------

def export_run(*, export_id: int) -> ModelExport:
    """Build the export's archive and store it; the job ends SUCCEEDED with its size, or FAILED with the reason."""
    if not job_claim(ModelExport, export_id):
        return ModelExport.objects.get(id=export_id)
    export = ModelExport.objects.select_related("finetune_job__project", "finetune_job__base_model",
                                                "finetune_job__result_model").get(id=export_id)
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="taskllm-export-"))
    try:
        name = f"taskllm-finetune-{export.finetune_job_id}-{export.format}"
        BUILDERS[export.format](export.finetune_job, workdir / name, lambda p: job_heartbeat(export, progress=p))
        job_heartbeat(export, progress=80)
        archive = workdir / f"{name}.tar.gz"
        with tarfile.open(archive, "w:gz", compresslevel=1) as tar:
            tar.add(workdir / name, arcname=name)
        with open(archive, "rb") as handle:
            export.archive.save(archive.name, File(handle), save=False)
        job_finish(export, JobStatus.SUCCEEDED, archive=export.archive.name, size_bytes=archive.stat().st_size,
                   seconds=round(time.monotonic() - started, 2))
    except Exception as exc:  # noqa: BLE001 - a failed export must end visibly on its job
        job_finish(export, JobStatus.FAILED, error=f"The export stopped: {exc}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return export


def _copy_adapter(job: FineTuneJob, folder: Path) -> None:
    """The adapter's files from the storage, its base named by its Hugging Face id (not this machine's path)."""
    folder.mkdir(parents=True)
    stored = job.result_model.adapter
    for file_name in default_storage.listdir(stored)[1]:
        with default_storage.open(f"{stored}/{file_name}", "rb") as source, open(folder / file_name, "wb") as target:
            shutil.copyfileobj(source, target)
    config_path = folder / "adapter_config.json"
    config = json.loads(config_path.read_text())
    config["base_model_name_or_path"] = base_model_id(job)
    config_path.write_text(json.dumps(config, indent=2))


def build_adapter(job: FineTuneJob, folder: Path, report) -> None:
    _copy_adapter(job, folder)
    report(50)
    (folder / "README.md").write_text(model_card(job, export_format="LoRA adapter (PEFT)",
                                                 serve=adapter_serving(job, folder.name)))


def build_merged(job: FineTuneJob, folder: Path, report) -> None:
    """The base with the adapter merged in, saved as a plain Hugging Face folder (safetensors, fp32)."""
    adapter = folder.parent / "adapter"
    _copy_adapter(job, adapter)
    tokenizer, model = _merged_model(job.base_model, str(adapter))
    report(50)
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    (folder / "README.md").write_text(model_card(job, export_format="merged weights (Hugging Face folder)",
                                                 serve=merged_serving(job, folder.name)))


def _merged_model(base, adapter_dir: str):
    from peft import PeftModel

    from apps.llm.local_models import load_local

    tokenizer, model = load_local(base)
    # Read from GGUF, the model carries its quantizer; the merged folder holds plain (dequantized) weights.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model = PeftModel.from_pretrained(model, adapter_dir).merge_and_unload()
    model.config.name_or_path = ""
    return tokenizer, model


def build_gguf(job: FineTuneJob, folder: Path, report, *, file_type: str) -> None:
    """The merged weights as model.gguf (llama.cpp, Ollama), shaped like the bundled GGUF, with a Modelfile."""
    from apps.llm.bundled import weights_location

    if job.base_model.local_path:
        raise ApplicationError("GGUF export is built for the bundled model, whose own GGUF gives the tokenizer and "
                               "metadata; export the merged weights and convert them with llama.cpp's "
                               "convert_hf_to_gguf.py.")
    adapter = folder.parent / "adapter"
    _copy_adapter(job, adapter)
    _tokenizer, model = _merged_model(job.base_model, str(adapter))
    report(40)
    template = Path(*weights_location())
    folder.mkdir(parents=True)
    write_gguf(model, template, folder / "model.gguf", file_type)
    report(70)
    (folder / "Modelfile").write_text(ollama_modelfile(chat_template_of(template), system_message(job)))
    (folder / "README.md").write_text(model_card(job, export_format=f"GGUF {file_type.upper()} (llama.cpp, Ollama)",
                                                 serve=gguf_serving(job, folder.name)))


BUILDERS = {ExportFormat.ADAPTER: build_adapter, ExportFormat.MERGED: build_merged,
            ExportFormat.GGUF_F16: partial(build_gguf, file_type="f16"),
            ExportFormat.GGUF_Q8_0: partial(build_gguf, file_type="q8_0")}


# --- how to serve each export (the README's last section) -----------------------------------------

def adapter_serving(job: FineTuneJob, folder_name: str) -> str:
    base, name, rank = base_model_id(job), f"taskllm-ft-{job.id}", int(job.hyperparameters.get("lora_r", 16))
    return f"""Unpack it: `tar xzf {folder_name}.tar.gz`.

### vLLM (OpenAI-compatible server)

```
vllm serve {base} --enable-lora --lora-modules {name}=./{folder_name} --max-lora-rank {max(rank, 8)}
curl http://localhost:8000/v1/chat/completions -H 'Content-Type: application/json' \\
  -d '{{"model": "{name}", "messages": [{{"role": "user", "content": "..."}}]}}'
```

### transformers + PEFT

```python
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer

tokenizer = AutoTokenizer.from_pretrained("{base}")
model = AutoModelForCausalLM.from_pretrained("{base}")
model = PeftModel.from_pretrained(model, "./{folder_name}").merge_and_unload()
messages = [{{"role": "system", "content": "..."}}, {{"role": "user", "content": "..."}}]
ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt")
print(tokenizer.decode(model.generate(ids, max_new_tokens=64, do_sample=False)[0, ids.shape[1]:]))
```

Send the same system message and user message as the prompt version named under Evaluation: the adapter learned
that format."""


def merged_serving(job: FineTuneJob, folder_name: str) -> str:
    return f"""Unpack it: `tar xzf {folder_name}.tar.gz`. The folder is a plain Hugging Face model (no PEFT needed).

### vLLM

```
vllm serve ./{folder_name} --served-model-name taskllm-ft-{job.id}
```

### transformers

```python
from transformers import AutoModelForCausalLM, AutoTokenizer

tokenizer = AutoTokenizer.from_pretrained("./{folder_name}")
model = AutoModelForCausalLM.from_pretrained("./{folder_name}")
messages = [{{"role": "system", "content": "..."}}, {{"role": "user", "content": "..."}}]
ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt")
print(tokenizer.decode(model.generate(ids, max_new_tokens=64, do_sample=False)[0, ids.shape[1]:]))
```"""


def gguf_serving(job: FineTuneJob, folder_name: str) -> str:
    name = f"taskllm-ft-{job.id}"
    return f"""Unpack it: `tar xzf {folder_name}.tar.gz`. `model.gguf` carries the tokenizer and the chat template;
`Modelfile` adds the system message of the prompt version named under Evaluation (or the deployed one) and greedy
decoding.

### Ollama

```
cd {folder_name}
ollama create {name} -f Modelfile
ollama run {name} "..."
```

### llama.cpp

```
llama-server -m ./{folder_name}/model.gguf --jinja --port 8080
curl http://localhost:8080/v1/chat/completions -H 'Content-Type: application/json' \\
  -d '{{"messages": [{{"role": "system", "content": "..."}}, {{"role": "user", "content": "..."}}], "temperature": 0}}'
```

(or `python -m llama_cpp.server --model ./{folder_name}/model.gguf` with llama-cpp-python.)

### transformers

```python
from transformers import AutoModelForCausalLM, AutoTokenizer

tokenizer = AutoTokenizer.from_pretrained("./{folder_name}", gguf_file="model.gguf")
model = AutoModelForCausalLM.from_pretrained("./{folder_name}", gguf_file="model.gguf")
```

Send the user message as the prompt version renders it: the model learned that format."""
