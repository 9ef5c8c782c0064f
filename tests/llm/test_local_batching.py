"""Batched, prefix-cached answers of the bundled model are the answers of one record at a time, on the demo records."""

import json
import os
import threading
import time
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import InMemoryStorage, default_storage
from django.utils._os import safe_join

from apps.llm.client import Caller, complete
from apps.llm.models import Model
from apps.llm.providers import local, local_engine, local_reference
from apps.prompts.rendering import render_messages, schema_for
from apps.prompts.services import prompt_create
from tests.factories import NerProjectFactory, ProjectFactory

pytestmark = pytest.mark.local_model

ROOT = Path(__file__).resolve().parents[2]
LABELS = ["account_hold", "payment_review", "service_credit", "billing", "escalation", "technical"]
SYSTEM = "You route support tickets to the team that handles them. The teams: {labels}."


def demo_texts(file_name: str, count: int) -> list[str]:
    # The demo data lives in the top-floor demo folder (apps/demo, formerly apps/core/demo).
    path = next(ROOT.glob(f"apps/**/{file_name}"))
    return [json.loads(line)["text"] for line in path.read_text().splitlines()[:count]]


def one_at_a_time(model_row, conversations, schema):
    tokenizer, model = local.load("")
    return [local_reference.reply(tokenizer, model, messages, schema, max_tokens=model_row.max_tokens,
                                  adapter=bool(model_row.adapter)) for messages in conversations]


def answers_through_the_run_path(model_row, conversations, schema):
    """What runs and evals get: `Caller.stream`, which hands the local provider batches."""
    jobs = ((n, messages, None) for n, messages in enumerate(conversations))
    with Caller(model_row) as caller:
        arrived = [item for tick in caller.stream(jobs, schema=schema, stop=threading.Event()) for item in tick]
    return [completion for _, completion in sorted(arrived, key=lambda item: item[0])]


@pytest.fixture
def router(db):
    return ProjectFactory(labels=LABELS)


def test_classification_answers_are_the_same_batched_and_one_at_a_time(router):
    version = prompt_create(project=router, name="plain", system=SYSTEM).versions.get()
    conversations = [render_messages(router, version, text) for text in demo_texts("support_tickets.jsonl", 6)]
    conversations.append(conversations[0])  # a repeat in the same batch
    model_row = Model(name="SmolLM2", provider="local")
    schema = schema_for(router, version)

    expected = one_at_a_time(model_row, conversations, schema)
    batched = answers_through_the_run_path(model_row, conversations, schema)

    assert [c.text for c in batched] == [r.text for r in expected]
    assert [c.input_tokens for c in batched] == [r.input_tokens for r in expected]
    assert all(c.valid for c in batched)


def test_label_scores_of_a_batch_match_each_record_scored_alone_within_float_tolerance(router):
    version = prompt_create(project=router, name="plain", system=SYSTEM).versions.get()
    tokenizer, model = local.load("")
    prompts = [local._prompt(tokenizer, render_messages(router, version, text))
               for text in demo_texts("support_tickets.jsonl", 4)]
    rows, prefix = local._encode(tokenizer, prompts, [local.LABEL_OPENING] * len(prompts))
    candidates = [tokenizer(label + '"}', add_special_tokens=False).input_ids for label in LABELS]
    assert prefix > 20  # the system message and the chat template are shared

    together = local_engine.score_labels(model, rows, prefix, candidates, pad=0)
    alone = [local_engine.score_labels(model, [row], 1, candidates, pad=0)[0] for row in rows]

    for scores, expected in zip(together, alone, strict=True):
        assert scores == pytest.approx(expected, abs=1e-3)


def test_chain_of_thought_answers_are_the_same_batched_and_one_at_a_time(router):
    version = prompt_create(project=router, name="cot", style="cot", system=SYSTEM).versions.get()
    conversations = [render_messages(router, version, text) for text in demo_texts("support_tickets.jsonl", 3)]
    model_row = Model(name="SmolLM2", provider="local", max_tokens=24)
    schema = schema_for(router, version)

    expected = one_at_a_time(model_row, conversations, schema)
    batched = local.reply_batch(model_row, conversations, schema)

    assert [r.text for r in batched] == [r.text for r in expected]
    assert all(json.loads(r.text)["reasoning"] for r in batched)


def test_answers_that_loop_are_decoded_several_tokens_a_step_and_stay_the_same(router):
    """A small model's reasoning often repeats itself; the guessed tokens it agrees with are kept, and the
    labels are then scored on the generation's own cache: same answers and confidences as one at a time."""
    version = prompt_create(project=router, name="cot", style="cot", system=SYSTEM).versions.get()
    conversations = [render_messages(router, version, text) for text in demo_texts("support_tickets.jsonl", 6)]
    model_row = Model(name="SmolLM2", provider="local", max_tokens=64)
    schema = schema_for(router, version)

    expected = one_at_a_time(model_row, conversations, schema)
    batched = local.reply_batch(model_row, conversations, schema)

    assert [r.text for r in batched] == [r.text for r in expected]
    # The labels' confidence is that of scoring them afresh after the written reasoning.
    tokenizer, model = local.load("")
    reasonings = [json.loads(r.text)["reasoning"] for r in batched]
    openings = [f'{local.REASONING_OPENING}{json.dumps(text)[1:-1]}", "label": "' for text in reasonings]
    afresh = local._best_labels(tokenizer, model, [local._prompt(tokenizer, c) for c in conversations], LABELS,
                                openings, width=1)
    assert [r.confidence for r in batched] == pytest.approx([r.confidence for r in afresh], abs=1e-3)
    looping = [text for text in reasonings if any(text.count(text[n:n + 24]) > 1 for n in range(len(text) - 24))]
    assert looping  # the demo records include answers that repeat themselves


def test_a_guess_is_what_followed_the_last_tokens_before_and_counts_while_the_model_agrees():
    outputs = [[9, 5, 1, 2]]
    guesser = local_engine._Guesser([[5, 1, 2, 3, 4, 6]], outputs)
    assert guesser.guess(0, batch=1) == [3, 4]  # 5, 1, 2 was followed by 3, 4 (two tokens to start with)
    guesser.heard(0, right=2, guessed=2)
    assert guesser.guess(0, batch=1) == [3, 4, 6, 9]  # all right: it guesses further
    assert guesser.guess(0, batch=24) == []  # a full batch: no room for guesses
    # Fed: the new token 3, then guesses 4, 5, 9. The model picks 4 after 3, 5 after 4, 6 after 5: the guess 9 is wrong.
    assert local_engine._agreed([4, 5, 9], [4, 5, 6, 0]) == [4, 5, 6]
    assert local_engine._agreed([8], [4, 5]) == [4]


def test_rows_joining_a_running_batch_decode_as_they_would_alone(router):
    """Continuous batching: five rows through two places; rows join as others finish, answers unchanged."""
    version = prompt_create(project=router, name="cot", style="cot", system=SYSTEM).versions.get()
    tokenizer, model = local.load("")
    prompts = [local._prompt(tokenizer, render_messages(router, version, text))
               for text in demo_texts("support_tickets.jsonl", 5)]
    rows, prefix = local._encode(tokenizer, prompts, [local.REASONING_OPENING] * len(prompts))
    stops = local._quote_tokens(tokenizer)

    seconds = [0.0] * len(rows)
    started = time.perf_counter()
    joined = local_engine.generate(model, rows, prefix, max_new_tokens=20, stop_ids=stops, pad=0, width=2,
                                   seconds=seconds)
    took = time.perf_counter() - started
    alone = [local_engine.generate(model, [row], prefix, max_new_tokens=20, stop_ids=stops, pad=0)[0]
             for row in rows]

    assert joined == alone
    assert len({len(out) for out in alone}) > 1  # rows of different lengths: some left while others ran on
    # Each row's latency is its own time in the batch, not the batch's.
    assert all(0 < s < took for s in seconds) and len(set(seconds)) == len(rows)


def test_ner_answers_are_the_same_batched_and_one_at_a_time(db):
    project = NerProjectFactory(entity_types=["DRUG", "DOSE", "CONDITION", "BIOMARKER"])
    version = prompt_create(project=project, name="NER").versions.get()
    conversations = [render_messages(project, version, text) for text in demo_texts("clinical_trial_ner.jsonl", 2)]
    model_row = Model(name="SmolLM2", provider="local", max_tokens=24)
    schema = schema_for(project, version)

    expected = one_at_a_time(model_row, conversations, schema)
    batched = local.reply_batch(model_row, conversations, schema)

    assert [(r.text, r.output_tokens) for r in batched] == [(r.text, r.output_tokens) for r in expected]


class NoPathStorage(InMemoryStorage):
    """Like object storage: files can be listed, opened and sized, but they have no local path."""

    def path(self, name):
        raise NotImplementedError("This backend doesn't support absolute paths.")

    def _relative_path(self, name):  # InMemoryStorage finds its nodes through path(); this does it without
        return os.path.relpath(safe_join(self.location, name), self.location)


def test_an_adapter_is_read_through_a_storage_that_has_no_path(settings, tmp_path):
    """Object storage holds the fine-tune's adapter; the local provider copies it to its cache and answers."""
    from peft import LoraConfig, get_peft_model

    _, base = local.load_bundled()
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": f"{__name__}.NoPathStorage"}}
    settings.TASKLLM_LOCAL_CACHE_DIR = tmp_path / "cache"
    with pytest.raises(NotImplementedError):
        default_storage.path("anything")
    base.hf_quantizer = None
    if hasattr(base.config, "quantization_config"):
        del base.config.quantization_config
    config = LoraConfig(r=4, target_modules=["q_proj"], task_type="CAUSAL_LM")
    get_peft_model(base, config).save_pretrained(tmp_path / "adapter")  # a fresh LoRA: the base's answers
    for path in (tmp_path / "adapter").iterdir():
        default_storage.save(f"adapters/job-x/{path.name}", ContentFile(path.read_bytes()))

    tuned = Model(name="tuned", provider="local", adapter="adapters/job-x", max_tokens=16)
    messages = [{"role": "user", "content": "Say hello."}]
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}}
    result = complete(tuned, messages, schema=schema)

    assert result.error == ""
    folder = Path(local.adapter_folder(tuned))
    assert folder.is_relative_to(tmp_path / "cache")
    assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in (tmp_path / "adapter").iterdir())
    assert result.output_tokens > 0
