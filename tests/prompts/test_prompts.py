import pytest
from django.urls import reverse

from apps.core.exceptions import ApplicationError
from apps.prompts.models import PromptStyle, PromptVersion
from apps.prompts.rendering import render_messages, schema_for
from apps.prompts.services import prompt_create, prompt_version_create
from tests.conftest import api_as, login
from tests.factories import RecordFactory


def test_editing_a_prompt_makes_a_new_version_and_keeps_the_old(people, project, prompt_version):
    template = prompt_version.template
    response = login(people["lead"]).post(reverse("prompts:edit", args=[template.id]), {
        "style": "cot", "system": "Be careful.", "user_template": "Ticket: {text}", "note": "think first"})
    assert response.status_code == 302
    versions = list(template.versions.order_by("number"))
    assert [(v.number, v.style) for v in versions] == [(1, "plain"), (2, "cot")]
    assert versions[0].system == "Route the ticket. Labels: {labels}."


def test_create_page_makes_version_one(people, project):
    response = login(people["lead"]).post(reverse("prompts:create", args=[project.id]), {
        "name": "Definitions", "style": "definitions", "system": "Route it.", "user_template": "{text}"})
    version = PromptVersion.objects.get(template__name="Definitions")
    assert response.url == reverse("prompts:detail", args=[version.template_id]) and version.number == 1


def test_user_message_must_hold_the_text(project, prompt_version):
    with pytest.raises(ApplicationError, match=r"must contain \{text\}"):
        prompt_version_create(template=prompt_version.template, user_template="no placeholder")


def test_definitions_style_adds_the_glossary(project):
    template = prompt_create(project=project, name="Defs", style=PromptStyle.DEFINITIONS, system="Route it.")
    messages = render_messages(project, template.versions.get(), "Put a hold on it")
    assert "- hold: a customer-requested pause" in messages[0]["content"]
    assert messages[-1] == {"role": "user", "content": "Put a hold on it"}


def test_chain_of_thought_asks_for_reasoning_first(project):
    template = prompt_create(project=project, name="CoT", style=PromptStyle.CHAIN_OF_THOUGHT)
    version = template.versions.get()
    schema = schema_for(project, version)
    assert list(schema["properties"]) == ["reasoning", "label"] and schema["required"] == ["reasoning", "label"]
    assert '"reasoning"' in render_messages(project, version, "x")[0]["content"]


def test_few_shot_examples_become_earlier_turns(project):
    examples = [{"text": "Refund me", "answer": {"label": "billing"}}]
    template = prompt_create(project=project, name="Shots", style=PromptStyle.FEW_SHOT, examples=examples)
    messages = render_messages(project, template.versions.get(), "It crashed")
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[2]["content"] == '{"label": "billing"}'


def test_literal_braces_in_a_prompt_stay(project):
    template = prompt_create(project=project, name="Braces", system='Reply like {"label": "x"} for {labels}')
    content = render_messages(project, template.versions.get(), "t")[0]["content"]
    assert 'Reply like {"label": "x"} for billing, technical, escalation' in content


def test_preview_shows_the_exact_messages_for_a_chosen_record(people, dataset, prompt_version):
    record = RecordFactory(dataset=dataset, text="Where is my credit?")
    page = login(people["reviewer"]).get(reverse("prompts:preview", args=[prompt_version.id]),
                                         {"record": record.id}).content.decode()
    assert "Ticket: Where is my credit?" in page and "Answer with JSON only" in page


def test_diff_shows_what_changed(people, prompt_version):
    prompt_version_create(template=prompt_version.template, system="Route the ticket carefully.",
                          user_template="Ticket: {text}")
    page = login(people["reviewer"]).get(reverse("prompts:diff", args=[prompt_version.template_id])).content.decode()
    assert '<span class="del">-Route the ticket. Labels: {labels}.</span>' in page
    assert '<span class="add">+Route the ticket carefully.</span>' in page


def test_few_shot_form_rejects_an_example_with_a_wrong_label(people, prompt_version):
    response = login(people["lead"]).post(reverse("prompts:edit", args=[prompt_version.template_id]), {
        "style": "few_shot", "user_template": "{text}", "examples": '{"text": "x", "answer": {"label": "nope"}}'})
    assert "Example line 1: &#x27;nope&#x27; is not one of the project&#x27;s labels." in response.content.decode()


def test_api_adds_versions(people, prompt_version):
    url = reverse("api-prompt-versions", args=[prompt_version.template_id])
    response = api_as(people["lead"]).post(url, {"style": "plain", "user_template": "Text: {text}"}, format="json")
    assert response.status_code == 201 and response.json()["number"] == 2
    assert api_as(people["reviewer"]).get(url).json()["count"] == 2
