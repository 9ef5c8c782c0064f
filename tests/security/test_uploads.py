"""Uploads have a byte cap and a per-line cap (settings), each with an error that says which and how to fix it."""

import io
import json

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from tests.conftest import api_as, login


def jsonl(*texts: str) -> bytes:
    return "".join(json.dumps({"text": text, "label": "billing"}) + "\n" for text in texts).encode()


def test_a_dataset_file_over_the_byte_cap_is_refused(people, dataset, settings):
    settings.TASKLLM_UPLOAD_MAX_BYTES = 100
    upload = SimpleUploadedFile("big.jsonl", jsonl("x" * 200))
    response = api_as(people["lead"]).post(reverse("api-imports", args=[dataset.id]), {"file": upload},
                                           format="multipart")
    assert response.status_code == 400 and "TASKLLM_UPLOAD_MAX_BYTES" in response.json()["detail"]
    assert dataset.records.count() == 3


def test_a_line_over_the_line_cap_rejects_the_file_naming_the_line(people, dataset, settings):
    settings.TASKLLM_UPLOAD_MAX_LINE_BYTES = 64
    upload = SimpleUploadedFile("long.jsonl", jsonl("short one", "y" * 500))
    response = api_as(people["lead"]).post(reverse("api-imports", args=[dataset.id]), {"file": upload},
                                           format="multipart")
    assert response.status_code == 400
    problems = response.json()["problems"]
    assert problems[0]["line"] == 2 and "TASKLLM_UPLOAD_MAX_LINE_BYTES" in problems[0]["message"]
    assert dataset.records.count() == 3


def test_the_test_case_import_has_the_same_caps(people, project, settings):
    settings.TASKLLM_UPLOAD_MAX_LINE_BYTES = 64
    line = json.dumps({"text": "z" * 500, "expected": {"label": "billing"}}).encode() + b"\n"
    response = login(people["lead"]).post(reverse("review:test_case_import", args=[project.id]),
                                          {"file": io.BytesIO(line)}, follow=True)
    assert "Line 1 is longer than 64 bytes" in response.content.decode()
    assert not project.test_cases.exists()
