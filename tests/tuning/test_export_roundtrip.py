"""A real tiny fine-tune of the bundled model, exported, loaded back outside TaskLLM: same labels as TaskLLM's own."""

import io
import json
import tarfile
from pathlib import Path

import pytest
from openai import OpenAI

from apps.core.models import JobStatus
from apps.llm.bundled import load_bundled
from apps.llm.client import complete
from apps.llm.models import Model
from apps.prompts.rendering import render_messages
from apps.prompts.services import prompt_create
from apps.review.services import training_example_create
from apps.tuning.exports import export_create, export_run
from apps.tuning.services import finetune_launch, finetune_train_local
from tests.support import real_servers

pytestmark = [pytest.mark.local_model, pytest.mark.real_server, pytest.mark.django_db(transaction=True)]

LABELS = ["billing", "technical"]
SCHEMA = {"type": "object", "properties": {"label": {"type": "string", "enum": LABELS}}, "required": ["label"]}
RECORDS = ["Ticket 1: my invoice is wrong", "Ticket 2: the app crashes on start", "I was charged twice",
           "The login page shows an error"]


def unpack(export, into) -> str:
    with export.archive.open("rb") as handle, tarfile.open(fileobj=io.BytesIO(handle.read()), mode="r:gz") as tar:
        tar.extractall(into, filter="data")
    return str(into / f"taskllm-finetune-{export.finetune_job_id}-{export.format}")


def labels_of(tokenizer, model, project, version) -> list[str]:
    """The label whose `{"label": "<label>"}` is likeliest after the prompt: how TaskLLM picks a label."""
    import torch

    answers = []
    for text in RECORDS:
        prompt = tokenizer.apply_chat_template(render_messages(project, version, text), add_generation_prompt=True,
                                               tokenize=False) + '{"label": "'
        prefix = tokenizer(prompt, add_special_tokens=False).input_ids
        scores = []
        for label in LABELS:
            ids = prefix + tokenizer(label + '"}', add_special_tokens=False).input_ids
            with torch.inference_mode():
                logits = torch.log_softmax(model(input_ids=torch.tensor([ids])).logits[0], dim=-1)
            scores.append(sum(logits[j - 1, ids[j]].item() for j in range(len(prefix), len(ids))))
        answers.append(LABELS[max(range(len(LABELS)), key=scores.__getitem__)])
    return answers


def test_the_adapter_on_the_base_and_the_merged_folder_give_taskllms_labels(project, people, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    version = prompt_create(project=project, name="Router", system="Route the ticket.").versions.get()
    for n in range(8):
        text = f"Ticket {n}: " + ("my invoice is wrong" if n % 2 else "the app crashes on start")
        training_example_create(project=project, messages=render_messages(project, version, text), text=text,
                                answer={"label": "billing" if n % 2 else "technical"})
    base = Model.objects.create(name="SmolLM2", provider="local", max_tokens=12)
    job = finetune_launch(project=project, base_model=base, backend="local", user=people["lead"],
                          hyperparameters={"epochs": 1, "batch_size": 4, "learning_rate": 1e-3})
    job = finetune_train_local(job_id=job.id)
    assert job.status == JobStatus.SUCCEEDED, job.error
    ours = [complete(job.result_model, render_messages(project, version, text), schema=SCHEMA).answer["label"]
            for text in RECORDS]

    adapter = export_run(export_id=export_create(job=job, export_format="adapter").id)
    merged = export_run(export_id=export_create(job=job, export_format="merged").id)
    assert adapter.status == merged.status == JobStatus.SUCCEEDED, (adapter.error, merged.error)

    tokenizer, on_base = load_bundled()
    on_base = PeftModel.from_pretrained(on_base, unpack(adapter, tmp_path / "a")).eval()
    assert labels_of(tokenizer, on_base, project, version) == ours

    merged_folder = unpack(merged, tmp_path / "m")
    plain_tokenizer = AutoTokenizer.from_pretrained(merged_folder)
    plain = AutoModelForCausalLM.from_pretrained(merged_folder).eval()
    assert plain_tokenizer.chat_template and "safetensors" in " ".join(p.name for p in (tmp_path / "m").rglob("*"))
    assert labels_of(plain_tokenizer, plain, project, version) == ours

    # Served by transformers serve, the merged folder writes the answer's JSON itself: the fine-tune learned it.
    server = real_servers.start_transformers_serve(tmp_path / "serve.log", folder=Path(merged_folder))
    try:
        client = OpenAI(base_url=server.base_url, api_key="none", timeout=300)
        for text in RECORDS:
            reply = client.chat.completions.create(model=server.model_id, messages=render_messages(project, version,
                                                   text), max_tokens=12, temperature=0)
            assert json.loads(reply.choices[0].message.content)["label"] in LABELS, server.log_tail()
    finally:
        server.stop()
