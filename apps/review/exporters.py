"""Training examples as files: OpenAI chat fine-tuning JSONL, or plain JSONL."""

import json
from collections.abc import Iterator

from django.db.models import QuerySet

from .models import TrainingExample

FORMATS = ("openai", "plain")


def openai_chat_line(example: TrainingExample) -> dict:
    """{"messages": [...the messages sent..., {"role": "assistant", "content": "<answer JSON>"}]}

    The one place this line is built: exports and fine-tune training files (`tuning/training_file.py`) use it.
    An empty answer gives an empty assistant turn, which the training file's checks name as a problem.
    """
    answer = json.dumps(example.answer, ensure_ascii=False) if example.answer else ""
    return {"messages": [*example.messages, {"role": "assistant", "content": answer}]}


def plain_line(example: TrainingExample) -> dict:
    return {"text": example.text, "answer": example.answer, "points": [p.name for p in example.points.all()]}


def training_examples(examples: QuerySet[TrainingExample], export_format: str) -> Iterator[str]:
    line_of = openai_chat_line if export_format == "openai" else plain_line
    for example in examples.prefetch_related("points").order_by("id").iterator(chunk_size=500):
        yield json.dumps(line_of(example), ensure_ascii=False) + "\n"
