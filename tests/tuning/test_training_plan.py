"""What the local trainer chooses for a given machine, checked without a GPU (tuning.backends.local)."""

import pytest

from apps.core.exceptions import ApplicationError
from apps.tuning.backends.local import Device, Hyperparameters, load_options, lora_target_modules
from apps.tuning.services import hyperparameters_clean

CPU, H100, T4 = Device("cpu"), Device("cuda", bf16=True), Device("cuda", bf16=False)


def test_the_cpu_trains_in_fp32_as_before_even_when_a_4bit_base_is_asked_for():
    assert load_options(device=CPU, hp=Hyperparameters(), bitsandbytes=True, from_gguf=False).dtype == "float32"
    options = load_options(device=CPU, hp=Hyperparameters(load_in_4bit=True), bitsandbytes=True, from_gguf=False)
    assert (options.device, options.dtype, options.load_in_4bit) == ("cpu", "float32", False)
    assert options.notes == ["A 4-bit base needs a CUDA GPU: trained in fp32 on the CPU."]


def test_a_gpu_with_bfloat16_trains_in_bf16_and_one_without_in_fp32():
    assert load_options(device=H100, hp=Hyperparameters(), bitsandbytes=False, from_gguf=True).dtype == "bfloat16"
    assert load_options(device=T4, hp=Hyperparameters(), bitsandbytes=False, from_gguf=True).dtype == "float32"
    assert load_options(device=H100, hp=Hyperparameters(), bitsandbytes=False, from_gguf=True).notes == []


def test_a_4bit_base_needs_cuda_bitsandbytes_and_a_model_folder():
    qlora = Hyperparameters(load_in_4bit=True)
    assert load_options(device=H100, hp=qlora, bitsandbytes=True, from_gguf=False).load_in_4bit
    missing = load_options(device=H100, hp=qlora, bitsandbytes=False, from_gguf=False)
    assert not missing.load_in_4bit and "bitsandbytes" in missing.notes[0]
    gguf = load_options(device=H100, hp=qlora, bitsandbytes=True, from_gguf=True)
    assert not gguf.load_in_4bit and "GGUF" in gguf.notes[0]
    assert not load_options(device=H100, hp=Hyperparameters(), bitsandbytes=True, from_gguf=False).load_in_4bit


@pytest.mark.parametrize("model_type,targets,expected", [
    ("llama", "all-linear", "all-linear"),
    ("llama", "attention", ["q_proj", "k_proj", "v_proj", "o_proj"]),
    ("qwen2", "attention-mlp", ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]),
    ("mistral", "attention", ["q_proj", "k_proj", "v_proj", "o_proj"]),
    ("gemma", "attention-mlp", ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]),
    ("phi", "attention-mlp", ["q_proj", "k_proj", "v_proj", "dense", "fc1", "fc2"]),
    ("phi3", "attention", ["qkv_proj", "o_proj"]),
    ("some-new-architecture", "attention", "all-linear"),
])
def test_lora_targets_per_architecture(model_type, targets, expected):
    assert lora_target_modules(model_type, targets) == expected


def test_the_hardware_settings_have_defaults_and_bounds_shared_by_form_and_api():
    clean = hyperparameters_clean({"gradient_accumulation": 4, "gradient_checkpointing": True,
                                   "lora_targets": "attention"})
    assert clean["gradient_accumulation"] == 4 and clean["gradient_checkpointing"] is True
    assert clean["lora_targets"] == "attention"
    assert clean["max_seq_length"] == 2048 and clean["load_in_4bit"] is False
    with pytest.raises(ApplicationError) as refused:
        hyperparameters_clean({"gradient_accumulation": 0, "gradient_checkpointing": "yes",
                               "lora_targets": "everything", "max_seq_length": 8})
    assert refused.value.problems == ["gradient_accumulation must be between 1 and 64.",
                                      "gradient_checkpointing must be true or false.",
                                      "lora_targets must be one of all-linear, attention, attention-mlp.",
                                      "max_seq_length must be between 32 and 32768."]


def test_the_launch_api_and_form_take_the_hardware_settings(project, people, prompt_version,
                                                            django_capture_on_commit_callbacks):
    from django.urls import reverse

    from apps.llm.models import Model
    from apps.prompts.rendering import render_messages
    from apps.review.services import training_example_create
    from tests.conftest import api_as, login

    for n in range(2):
        text = f"Ticket {n}"
        training_example_create(project=project, messages=render_messages(project, prompt_version, text), text=text,
                                answer={"label": "billing"})
    base = Model.objects.create(name="SmolLM2", provider="local")
    url = reverse("api-finetunes", kwargs={"project_id": project.id})
    api = api_as(people["lead"])
    refused = api.post(url, {"base_model": base.id, "backend": "local",
                             "hyperparameters": {"lora_targets": "everything"}}, format="json")
    assert refused.status_code == 400
    with django_capture_on_commit_callbacks(execute=False):
        created = api.post(url, {"base_model": base.id, "backend": "local", "hyperparameters": {
            "gradient_accumulation": 8, "gradient_checkpointing": True, "max_seq_length": 512}}, format="json")
    assert created.status_code == 201, created.content
    hp = created.json()["hyperparameters"]
    assert (hp["gradient_accumulation"], hp["gradient_checkpointing"], hp["max_seq_length"]) == (8, True, 512)
    form = {"base_model": base.id, "backend": "local", "epochs": 1, "learning_rate": "0.0002", "batch_size": 2,
            "lora_r": 8, "lora_alpha": 16, "validation_percent": 0, "gradient_accumulation": 3,
            "load_in_4bit": "on", "lora_targets": "attention"}
    with django_capture_on_commit_callbacks(execute=False):
        response = login(people["lead"]).post(reverse("tuning:launch", args=[project.id]), form)
    assert response.status_code == 302
    from apps.tuning.models import FineTuneJob

    job = FineTuneJob.objects.latest("id")
    assert job.hyperparameters["gradient_accumulation"] == 3 and job.hyperparameters["load_in_4bit"] is True
    assert job.hyperparameters["lora_targets"] == "attention" and job.hyperparameters["max_seq_length"] == 2048
