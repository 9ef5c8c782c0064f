"""Reviewers find their work and looking does not steal it: the project page lists what waits for me with counts
and a Start reviewing button; a lead who looks leases nothing; "All done" only when nothing is left for me, else
who holds what until when."""

from django.urls import reverse

from apps.review import services
from apps.review.queue import queue_take
from tests.conftest import login


def test_project_page_lists_runs_waiting_for_me_with_counts(people, project, graded_run):
    first = graded_run.outputs.select_related("record", "run__project").order_by("id").first()
    services.grade_submit(output=first, reviewer=people["reviewer"], verdict="pass")
    page = login(people["reviewer"]).get(reverse("projects:detail", args=[project.id])).content.decode()
    section = page.split('id="waiting-for-me"')[1].split("</section>")[0]
    assert "Start reviewing" in section and f"Run {graded_run.id}" in section
    assert "<strong>2</strong>" in section  # three outputs, one graded by me
    lead_page = login(people["lead"]).get(reverse("projects:detail", args=[project.id])).content.decode()
    assert "<strong>2</strong>" in lead_page.split('id="waiting-for-me"')[1]  # the reviewer's pass counts for all


def test_a_lead_who_looks_takes_nothing_from_the_reviewer(people, graded_run):
    lead = login(people["lead"])
    seen = {lead.get(reverse("review:start", args=[graded_run.id])).url for _ in range(3)}
    first = graded_run.outputs.order_by("id").first()
    assert seen == {reverse("review:output", args=[graded_run.id, first.id])}  # the lead looks at the first...
    assert queue_take(run=graded_run, reviewer=people["reviewer"]) == first  # ...and it is still free


def test_done_says_who_holds_what_is_left_and_until_when(people, graded_run, project):
    from apps.accounts.models import Membership, Role
    from tests.factories import UserFactory

    other = UserFactory(username="otto")
    Membership.objects.create(project=project, user=other, role=Role.REVIEWER)
    held = [queue_take(run=graded_run, reviewer=other) for _ in range(1)]
    for output in graded_run.outputs.exclude(id=held[0].id).select_related("record", "run__project"):
        services.grade_submit(output=output, reviewer=people["reviewer"], verdict="pass")
    page = login(people["reviewer"]).get(reverse("review:start", args=[graded_run.id])).content.decode()
    assert "All done" not in page and "held by <strong>otto</strong> until" in page
    services.grade_submit(output=held[0], reviewer=other, verdict="pass")
    page = login(people["reviewer"]).get(reverse("review:start", args=[graded_run.id])).content.decode()
    assert "All done here" in page


def test_the_open_screen_renews_its_lease_and_a_taken_output_says_so(people, graded_run):
    output = queue_take(run=graded_run, reviewer=people["reviewer"])
    url = reverse("review:lease", args=[graded_run.id, output.id])
    assert login(people["reviewer"]).post(url).status_code == 204
    assert login(people["admin"]).post(url).status_code == 409
