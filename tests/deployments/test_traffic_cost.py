"""A deployment's traffic shows what each day cost, priced by the model that answered each call."""

import csv
import io
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.deployments import analytics
from apps.deployments.models import Trace
from apps.llm.models import Model
from tests.conftest import api_as, login


def test_cost_per_day_prices_each_call_by_its_model(deployment, remote_model, project, people):
    remote_model.input_price_per_million, remote_model.output_price_per_million = 1.0, 4.0
    remote_model.save()
    unpriced = Model.objects.create(project=project, name="No prices", base_url=remote_model.base_url, model_id="x")
    now = timezone.now()
    yesterday = now - timedelta(days=1)
    for model, when, tokens in ((remote_model, now, (1000, 100)), (remote_model, now, (3000, 400)),
                                (remote_model, yesterday, (500, 0)), (unpriced, yesterday, (10, 10))):
        Trace.objects.create(deployment=deployment, endpoint="predict", status="ok", model=model, created_at=when,
                             input_tokens=tokens[0], output_tokens=tokens[1])
    Trace.objects.create(deployment=deployment, endpoint="predict", status="error", model=None,  # no tokens
                         created_at=now)
    days = {day.day: day for day in analytics.daily(deployment)}
    # today: 4000 input x 1 + 500 output x 4 = 6000 per million; yesterday: a model without prices -> unknown
    assert days[timezone.localdate(now)].cost == pytest.approx(0.006)
    assert days[timezone.localdate(yesterday)].cost is None
    page = login(people["reviewer"]).get(reverse("deployments:traffic", args=[deployment.id])).content.decode()
    assert '<td class="num cost">$0.0060</td>' in page and '<td class="num cost">–</td>' in page
    api_days = api_as(people["reviewer"]).get(f"/api/deployments/{deployment.id}/traffic/").json()["days"]
    assert sorted(d["cost"] is None for d in api_days) == [False, True]
    rows = list(csv.DictReader(io.StringIO(login(people["reviewer"]).get(
        reverse("deployments:traffic_export", args=[deployment.id])).content.decode())))
    costs = sorted(row["cost"] for row in rows)
    assert costs[0] == "" and float(costs[1]) == pytest.approx(0.006)
