"""Every CSV export goes through core/csv_export.py: cells a spreadsheet would run as formulas are neutralised."""

import csv
import io

import pytest
from django.urls import reverse

from apps.core.csv_export import neutralise
from apps.review.models import TrainingPoint
from tests.conftest import login
from tests.factories import RecordFactory

PAYLOADS = ["=HYPERLINK(\"http://x\")", "+1+1", "-2+3", "@SUM(A1)", "\tcmd", "\rcmd"]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_formula_cells_get_a_leading_apostrophe(payload):
    assert neutralise(payload) == "'" + payload
    assert neutralise("plain") == "plain" and neutralise(-1.5) == -1.5


def streamed_csv(response) -> list[list[str]]:
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return list(csv.reader(io.StringIO(body.decode())))


def test_the_dataset_csv_neutralises_text_labels_and_metadata(people, project):
    from tests.factories import DatasetFactory

    dataset = DatasetFactory(project=project)
    RecordFactory(dataset=dataset, text="=cmd|' /C calc'!A0", label="billing", metadata={"note": "@SUM(1)"})
    rows = streamed_csv(login(people["lead"]).get(reverse("datasets:export", args=[dataset.id]), {"format": "csv"}))
    cells = [cell for row in rows[1:] for cell in row]
    assert "'=cmd|' /C calc'!A0" in cells and "'@SUM(1)" in cells
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in cells)


def test_the_pass_rate_csv_neutralises_point_names(people, project):
    TrainingPoint.objects.create(project=project, name="=1+1")
    response = login(people["lead"]).get(reverse("evals:dashboard_export", args=[project.id, "pass-rates"]))
    cells = [cell for row in streamed_csv(response) for cell in row]
    assert "'=1+1" in cells and "=1+1" not in cells
