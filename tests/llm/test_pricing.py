"""A model's prices per million tokens (optional): set by form and API, bounded, cleared; the costs of runs and
fine-tunes worked out from their tokens."""

import pytest
from django.urls import reverse

from apps.core.models import JobStatus
from apps.llm.models import Model
from apps.llm.pricing import cost_per_thousand, tokens_cost, training_cost
from apps.runs.models import Output
from tests.conftest import api_as, login


def test_costs_from_tokens_and_prices():
    model = Model(name="m", input_price_per_million=0.15, output_price_per_million=0.60)
    # 2,000,000 input tokens at 0.15 + 500,000 output tokens at 0.60 = 0.30 + 0.30
    assert tokens_cost(model, 2_000_000, 500_000) == pytest.approx(0.60)
    assert cost_per_thousand(model, 100, 20) == pytest.approx(1000 * (100 * 0.15 + 20 * 0.60) / 1e6)
    assert training_cost(model, 1_000_000) == pytest.approx(0.15)
    input_only = Model(name="i", input_price_per_million=1.0)
    assert tokens_cost(input_only, 1000, 0) == pytest.approx(0.001)
    assert tokens_cost(input_only, 1000, 10) is None  # output tokens with no price: unknown, never 0
    assert tokens_cost(Model(name="none"), 0, 0) is None and training_cost(Model(name="none"), 10) is None


def test_prices_by_form_and_api_are_bounded_and_can_be_cleared(people, project, remote_model):
    fields = {"name": "Priced", "provider": "openai", "base_url": remote_model.base_url, "model_id": "fake-1",
              "temperature": "0", "max_tokens": "64", "timeout_seconds": "10", "max_retries": "2"}
    client = login(people["lead"])
    response = client.post(reverse("llm:edit", args=[project.id, remote_model.id]),
                           {**fields, "input_price_per_million": "-1"})
    assert response.status_code == 200 and "greater than or equal to 0" in response.content.decode()
    client.post(reverse("llm:edit", args=[project.id, remote_model.id]),
                {**fields, "input_price_per_million": "0.15", "output_price_per_million": "0.6"})
    remote_model.refresh_from_db()
    assert (remote_model.input_price_per_million, remote_model.output_price_per_million) == (0.15, 0.6)
    edit = client.get(reverse("llm:edit", args=[project.id, remote_model.id])).content.decode()
    assert 'name="input_price_per_million"' in edit and 'value="0.15"' in edit

    api = api_as(people["lead"])
    url = reverse("api-model", args=[project.id, remote_model.id])
    assert api.get(url).json()["output_price_per_million"] == 0.6
    assert api.patch(url, {"output_price_per_million": -0.5}, format="json").status_code == 400
    assert api.patch(url, {"name": "Still priced"}, format="json").json()["input_price_per_million"] == 0.15
    cleared = api.patch(url, {"input_price_per_million": None}, format="json").json()
    assert cleared["input_price_per_million"] is None and cleared["output_price_per_million"] == 0.6
    created = api.post(reverse("api-models", args=[project.id]), {
        "name": "New", "provider": "openai", "base_url": remote_model.base_url, "model_id": "x",
        "input_price_per_million": 3, "output_price_per_million": 15}, format="json")
    assert created.status_code == 201 and created.json()["output_price_per_million"] == 15.0


def test_a_run_shows_its_cost(people, graded_run):
    graded_run.model.input_price_per_million, graded_run.model.output_price_per_million = 10.0, 30.0
    graded_run.model.save()
    Output.objects.filter(run=graded_run).update(input_tokens=1000, output_tokens=100)
    outputs = graded_run.outputs.count()
    page = login(people["reviewer"]).get(reverse("runs:detail", args=[graded_run.id])).content.decode()
    # each output: 1000 x 10 + 100 x 30 = 13,000 per million = 0.013
    assert f"${0.013 * outputs:.4f}" in page and f"{1000 * outputs} input and {100 * outputs} output tokens" in page
    graded_run.model.output_price_per_million = None
    graded_run.model.save()
    page = login(people["reviewer"]).get(reverse("runs:detail", args=[graded_run.id])).content.decode()
    assert "Cost: unknown" in page


def test_a_fine_tune_estimates_its_cost_from_training_tokens(people, project, remote_model):
    from apps.tuning.models import FineTuneJob

    remote_model.input_price_per_million = 8.0
    remote_model.save()
    job = FineTuneJob.objects.create(project=project, base_model=remote_model, backend="openai",
                                     status=JobStatus.SUCCEEDED, training_file_sha256="0" * 64,
                                     token_estimate=50_000, hyperparameters={"epochs": 3})
    page = login(people["reviewer"]).get(reverse("tuning:detail", args=[job.id])).content.decode()
    # 50,000 tokens x 3 epochs = 150,000 at 8 per million = 1.20, said to be the input price
    assert "$1.2000" in page and "150000 training tokens" in page and "input price" in page
