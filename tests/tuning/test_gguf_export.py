"""GGUF exports: the writer reproduces the bundled GGUF from the bundled weights; a real fine-tune exported as GGUF
gives TaskLLM's labels when loaded back by transformers and when served by llama.cpp's server."""

from pathlib import Path

import pytest

from apps.core.exceptions import ApplicationError
from apps.core.models import JobStatus
from apps.deployments.models import Deployment
from apps.llm.bundled import load_bundled, weights_location
from apps.llm.client import complete
from apps.llm.models import Model
from apps.llm.services import model_create
from apps.prompts.rendering import render_messages
from apps.prompts.services import prompt_create
from apps.review.services import training_example_create
from apps.tuning.exports import export_create, export_run
from apps.tuning.gguf_export import write_gguf
from apps.tuning.services import finetune_launch, finetune_train_local
from tests.support import real_servers
from tests.tuning.test_export_roundtrip import LABELS, RECORDS, SCHEMA, labels_of, unpack

pytestmark = [pytest.mark.local_model]


def _tensors(path):
    from gguf import GGUFReader
    from gguf.quants import dequantize

    reader = GGUFReader(path)
    return reader, {t.name: (t.tensor_type, dequantize(t.data, t.tensor_type)) for t in reader.tensors}


@pytest.mark.parametrize("file_type", ["f16", "q8_0"])
def test_the_unmodified_bundled_weights_written_as_gguf_match_the_bundled_file(file_type, tmp_path):
    import numpy as np
    from gguf import GGMLQuantizationType

    _tokenizer, model = load_bundled()
    write_gguf(model, Path(*weights_location()), tmp_path / "model.gguf", file_type)

    original, theirs = _tensors(Path(*weights_location()))
    written, ours = _tensors(tmp_path / "model.gguf")
    assert list(ours) == list(theirs)  # same names, same order
    skipped = {"general.file_type", "general.quantization_version", "general.alignment"}
    keys = {k for k in original.fields if not k.startswith("GGUF.") and k not in skipped}
    assert {k for k in written.fields if not k.startswith("GGUF.") and k not in skipped} == keys
    assert written.get_field("general.file_type").contents() == {"f16": 1, "q8_0": 7}[file_type]
    for key in ("tokenizer.ggml.tokens", "tokenizer.chat_template", "llama.attention.head_count_kv"):
        assert written.get_field(key).contents() == original.get_field(key).contents()
    expected_type = {"f16": GGMLQuantizationType.F16, "q8_0": GGMLQuantizationType.Q8_0}[file_type]
    for name, (_their_type, their_values) in theirs.items():
        our_type, our_values = ours[name]
        assert our_values.shape == their_values.shape, name
        assert our_type == (GGMLQuantizationType.F32 if their_values.ndim == 1 else expected_type), name
        # q and k only match when permuted as llama.cpp stores them; f16 rounds, Q8_0 rounds to 1/127 of a block.
        tolerance = 1e-3 if file_type == "f16" else 1.5e-2
        scale = float(np.abs(their_values).max())
        assert np.abs(our_values - their_values).max() <= tolerance * scale, name


def test_an_architecture_outside_the_llama_family_is_refused_with_the_reason(tmp_path):
    from transformers import Qwen2Config, Qwen2ForCausalLM

    config = Qwen2Config(hidden_size=64, intermediate_size=128, num_hidden_layers=1, num_attention_heads=2,
                         num_key_value_heads=1, vocab_size=128)
    with pytest.raises(ApplicationError, match="Llama family.*'qwen2'"):
        write_gguf(Qwen2ForCausalLM(config), Path(*weights_location()), tmp_path / "model.gguf", "f16")
    assert not (tmp_path / "model.gguf").exists()


@pytest.mark.real_server
@pytest.mark.django_db(transaction=True)
def test_a_gguf_export_gives_taskllms_labels_in_transformers_and_in_llama_cpp(project, people, tmp_path):
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
    Deployment.objects.create(project=project, slug="router", model=job.result_model, prompt_version=version)
    ours = [complete(job.result_model, render_messages(project, version, text), schema=SCHEMA).answer["label"]
            for text in RECORDS]

    f16 = export_run(export_id=export_create(job=job, export_format="gguf_f16").id)
    q8 = export_run(export_id=export_create(job=job, export_format="gguf_q8_0").id)
    assert f16.status == q8.status == JobStatus.SUCCEEDED, (f16.error, q8.error)
    assert f16.size_bytes > q8.size_bytes > 0

    folder = Path(unpack(f16, tmp_path / "f16"))
    modelfile = (folder / "Modelfile").read_text()
    assert modelfile.startswith("FROM ./model.gguf\n") and "PARAMETER temperature 0" in modelfile
    assert 'TEMPLATE """{{ if .System }}<|im_start|>system' in modelfile and 'stop "<|im_end|>"' in modelfile
    assert 'SYSTEM """Route the ticket.' in modelfile
    card = (folder / "README.md").read_text()
    assert "ollama create" in card and "llama-server -m" in card and "Export format: GGUF F16" in card

    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file="model.gguf")
    loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file="model.gguf").eval()
    assert labels_of(tokenizer, loaded, project, version) == ours

    q8_folder = Path(unpack(q8, tmp_path / "q8"))
    q8_model = AutoModelForCausalLM.from_pretrained(q8_folder, gguf_file="model.gguf").eval()
    q8_labels = labels_of(tokenizer, q8_model, project, version)
    assert set(q8_labels) <= set(LABELS)
    agreed = sum(a == b for a, b in zip(q8_labels, ours, strict=True))
    print(f"Q8_0 agrees with TaskLLM's fine-tune on {agreed}/{len(ours)} records")

    server = real_servers.start_llama_cpp(tmp_path / "llama.log", model=folder / "model.gguf", alias="ft")
    try:
        served = model_create(project=project, name="llama.cpp GGUF export", provider="openai",
                              base_url=server.base_url, model_id=server.model_id, max_tokens=24,
                              timeout_seconds=600, structured_output="llamacpp_schema")
        answers = [complete(served, render_messages(project, version, text), schema=SCHEMA).answer for text in RECORDS]
    finally:
        server.stop()
    assert [answer["label"] for answer in answers] == ours
