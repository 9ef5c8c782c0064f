"""A lead, in a real browser: log in, create a project, upload a CSV, browse it, and see a bad file refused."""

import re

import pytest
from playwright.sync_api import expect

from apps.datasets.models import Record
from tests.factories import UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

GOOD_CSV = "text,label,customer\n" + "".join(
    f"Ticket {n}: please put a hold on my account,{'account_hold' if n % 2 else 'billing'},acme\n" for n in range(60)
)
BAD_CSV = "text,label\nFine ticket,billing\nAnother one,refunds\n,billing\n"


def test_lead_creates_a_project_uploads_and_sees_errors(page, live_server, shot, tmp_path):
    UserFactory(username="lena", is_superuser=True, is_staff=True)
    page.goto(live_server.url + "/")
    page.get_by_label("Username").fill("lena")
    page.get_by_label("Password").fill("secret-pass")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="No projects yet")).to_be_visible()
    shot("01-empty-projects")

    page.get_by_role("link", name="Create your first project").click()
    page.get_by_label("Name").fill("Ticket router")
    page.get_by_label("Task kind").select_option("classification")
    page.get_by_label("Labels").fill("account_hold\nbilling")
    page.get_by_label("Glossary").fill("hold: a customer-requested pause of the account")
    page.get_by_role("button", name="Create project").click()
    expect(page.get_by_role("heading", name="Ticket router")).to_be_visible()
    expect(page.get_by_text("a customer-requested pause of the account")).to_be_visible()
    shot("02-project-home")

    page.get_by_role("link", name="Add a dataset").click()
    page.get_by_label("Name").fill("Tickets")
    page.get_by_role("button", name="Create and upload a file").click()
    good = tmp_path / "tickets.csv"
    good.write_text(GOOD_CSV)
    page.get_by_label("File").set_input_files(str(good))
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_text("Imported 60 records.")).to_be_visible()
    expect(page.get_by_text("60 records", exact=True)).to_be_visible()
    expect(page.get_by_text("Page 1 of 2")).to_be_visible()
    shot("03-records")

    page.get_by_placeholder("Search text…").fill("Ticket 7:")
    expect(page.get_by_text("1 record match")).to_be_visible()
    expect(page).to_have_url(re.compile(r"q=Ticket"))

    page.get_by_role("link", name="Upload file").click()
    bad = tmp_path / "bad.csv"
    bad.write_text(BAD_CSV)
    page.get_by_label("File").set_input_files(str(bad))
    page.get_by_role("button", name="Upload").click()
    problems = page.locator("#import-problems")
    expect(problems).to_contain_text("bad.csv was not imported")
    expect(problems).to_contain_text("Line 3: unknown label 'refunds'")
    expect(problems).to_contain_text("Line 4: empty text")
    shot("04-bad-file")
    assert Record.objects.count() == 60
