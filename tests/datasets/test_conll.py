"""CoNLL import: tab-separated tokens that hold spaces, empty tokens, and IOB1 files refused or converted."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from apps.core.models import JobStatus
from tests.conftest import api_as, login
from tests.datasets.test_import import assert_rejected, run_import
from tests.factories import DatasetFactory, MembershipFactory, NerProjectFactory

IOB1 = "Acme\tI-PARTY\nCorp\tI-PARTY\nsigned\tO\non\tO\nMay\tI-DATE\n1\tI-DATE\n\nHi\tO\nGlobex\tI-PARTY\n"


@pytest.fixture
def ner_dataset(db):
    return DatasetFactory(project=NerProjectFactory(entity_types=["PARTY", "DATE", "LOC"]))


def test_a_tab_separated_token_keeps_its_spaces(ner_dataset):
    result = run_import(ner_dataset, "Flights\tO\nto\tO\nNew York\tB-LOC\nsold\tO\n", "conll")
    assert result.status == JobStatus.SUCCEEDED
    record = ner_dataset.records.get()
    assert record.text == "Flights to New York sold"
    assert record.entities == [{"start": 11, "end": 19, "type": "LOC"}]


def test_space_separated_columns_still_read_the_token_first_and_the_tag_last(ner_dataset):
    result = run_import(ner_dataset, "Acme NNP B-NP B-PARTY\nsigned VBD B-VP O\n", "conll")
    assert result.status == JobStatus.SUCCEEDED
    assert ner_dataset.records.get().entities == [{"start": 0, "end": 4, "type": "PARTY"}]


def test_an_empty_token_is_named_as_empty_with_its_line(ner_dataset):
    result = run_import(ner_dataset, "Acme\tB-PARTY\n\tO\n", "conll")
    assert_rejected(ner_dataset, result, 2, "the token is empty", 0)
    assert "has no tag" not in result.problems[0]["message"]


def test_an_iob1_file_is_refused_with_an_offer_to_convert_it(ner_dataset):
    result = run_import(ner_dataset, IOB1, "conll")
    assert_rejected(ner_dataset, result, 1, "starts the sentence; an entity must start with B-PARTY", 0)
    assert "iob1=convert" in result.problems[0]["message"]


def test_an_iob1_file_converts_when_asked_and_says_how_many_entities_changed(ner_dataset):
    result = run_import(ner_dataset, IOB1, "conll", iob1="convert")
    assert result.status == JobStatus.SUCCEEDED and result.records_imported == 2
    first, second = ner_dataset.records.order_by("position")
    assert first.entities == [{"start": 0, "end": 9, "type": "PARTY"}, {"start": 20, "end": 25, "type": "DATE"}]
    assert second.entities == [{"start": 3, "end": 9, "type": "PARTY"}]
    assert result.notices == ["Converted from IOB1: 3 entities starting with I- now start with B-."]


def test_iob1_b_between_two_entities_of_one_type_stays_a_new_entity(ner_dataset):
    result = run_import(ner_dataset, "Acme\tI-PARTY\nGlobex\tB-PARTY\nsigned\tO\n", "conll", iob1="convert")
    assert ner_dataset.records.get().entities == [{"start": 0, "end": 4, "type": "PARTY"},
                                                  {"start": 5, "end": 11, "type": "PARTY"}]
    assert result.notices == ["Converted from IOB1: 1 entity starting with I- now start with B-."]


def test_the_import_page_and_api_take_the_iob1_option(ner_dataset, people):
    MembershipFactory(project=ner_dataset.project, user=people["lead"], role="lead")
    upload = SimpleUploadedFile("iob1.conll", IOB1.encode())
    response = login(people["lead"]).post(reverse("datasets:import", args=[ner_dataset.id]),
                                          {"file": upload, "iob1": "on"}, follow=True)
    assert "Converted from IOB1: 3 entities" in response.content.decode()
    upload = SimpleUploadedFile("iob1.conll", IOB1.encode())
    response = api_as(people["lead"]).post(reverse("api-imports", args=[ner_dataset.id]),
                                           {"file": upload, "iob1": "convert"}, format="multipart")
    assert response.status_code == 201 and response.json()["notices"][0].startswith("Converted from IOB1: 3")
    assert ner_dataset.records.count() == 4
