"""A prompt version's pages: Run this version, the record picker with search, and the word-level diff."""

from django.urls import reverse

from apps.prompts.models import PromptVersion
from apps.prompts.selectors import version_word_diff
from apps.prompts.services import prompt_version_create
from tests.conftest import htmx_as, login
from tests.factories import RecordFactory


def test_run_this_version_opens_the_run_form_with_the_version_chosen(people, project, dataset, prompt_version):
    newer = prompt_version_create(template=prompt_version.template, system="Route it.", user_template="{text}")
    client = login(people["lead"])
    detail = client.get(reverse("prompts:detail", args=[prompt_version.template_id])).content.decode()
    link = f'{reverse("runs:create", args=[project.id])}?prompt_version={newer.id}'
    assert f'href="{link}">Run this version</a>' in detail
    assert f'href="{reverse("runs:create", args=[project.id])}?prompt_version={prompt_version.id}">Run</a>' in detail
    form = client.get(link).content.decode()
    assert f'<option value="{newer.id}" selected>' in form
    assert f'<option value="{prompt_version.id}" selected>' not in form
    assert client.get(link.replace(f"prompt_version={newer.id}", "prompt_version=abc")).status_code == 400


def test_reviewers_are_not_offered_run_this_version(people, prompt_version):
    page = login(people["reviewer"]).get(reverse("prompts:preview", args=[prompt_version.id])).content.decode()
    assert "Run this version" not in page


def test_record_picker_searches_records_instead_of_listing_200(people, dataset, prompt_version):
    RecordFactory.create_batch(210, dataset=dataset, text="Filler ticket")
    wanted = RecordFactory(dataset=dataset, text="My parcel never arrived")
    url = reverse("prompts:preview", args=[prompt_version.id])
    page = login(people["reviewer"]).get(url).content.decode()
    assert "<option" not in page and 'name="find"' in page and 'hx-target="#record-matches"' in page
    found = htmx_as(people["reviewer"]).get(url, {"find": "parcel"}).content.decode()
    assert f'href="?record={wanted.id}"' in found and "Filler ticket" not in found.split('id="record-matches"')[1]
    chosen = login(people["reviewer"]).get(url, {"record": wanted.id}).content.decode()
    assert "Ticket: My parcel never arrived" in chosen
    assert "No record contains" in login(people["reviewer"]).get(url, {"find": "zzz"}).content.decode()


def test_word_diff_marks_only_the_changed_words(project, prompt_version):
    long_system = "Route the ticket to one team. " * 12 + "Labels: {labels}."
    old = prompt_version_create(template=prompt_version.template, system=long_system, user_template="Ticket: {text}")
    new = prompt_version_create(template=prompt_version.template, system=long_system.replace("one team", "a team", 1),
                                user_template="Ticket: {text}")
    changed = [parts for parts in version_word_diff(old, new) if any(mark in ("del", "ins") for mark, _ in parts)]
    assert len(changed) == 1
    assert [(mark, text) for mark, text in changed[0] if mark] == [("del", "one"), ("ins", "a")]


def test_diff_page_shows_words_marked_and_wraps_long_lines(people, prompt_version):
    prompt_version_create(template=prompt_version.template, system="Route the ticket carefully. Labels: {labels}.",
                          user_template="Ticket: {text}")
    page = login(people["reviewer"]).get(reverse("prompts:diff", args=[prompt_version.template_id])).content.decode()
    assert '<span class="line">Route the ticket<ins> carefully</ins>. Labels: {labels}.</span>' in page
    assert '<pre class="word-diff">' in page
    css = open("static/css/app.css").read()
    assert ".diff, .word-diff { white-space: pre-wrap;" in css
    assert PromptVersion.objects.filter(template=prompt_version.template).count() == 2
