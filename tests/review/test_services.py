import io
import json
import threading

import pytest
from django.db import connection

from apps.core.exceptions import ApplicationError
from apps.review import exporters, selectors, services
from apps.review.models import Grade, TestCase, TrainingExample
from apps.review.queue import queue_take
from apps.review.segments import text_segments
from apps.runs.models import Output


@pytest.fixture
def output(graded_run):
    return graded_run.outputs.select_related("record", "run__project").order_by("id").first()


def test_choosing_the_models_label_is_a_pass_and_another_is_a_fail_with_an_example(output, people):
    same = services.grade_submit(output=output, reviewer=people["reviewer"], corrected_answer={"label": "billing"})
    assert same.grade.verdict == "pass" and same.grade.corrected_answer is None and same.notes == []
    other = services.grade_submit(output=output, reviewer=people["reviewer"], corrected_answer={"label": "technical"},
                                  point_names=["credit is a service credit"])
    assert other.grade.id == same.grade.id and other.grade.verdict == "fail"
    example = TrainingExample.objects.get()
    assert example.messages == output.messages and example.answer == {"label": "technical"}
    assert [p.name for p in example.points.all()] == ["credit is a service credit"]
    output.refresh_from_db()
    assert output.review_count == 1  # the reviewer's second grade replaced the first


def test_a_corrected_answer_outside_the_project_is_refused(output, people):
    with pytest.raises(ApplicationError, match="not one of the project's labels"):
        services.grade_submit(output=output, reviewer=people["reviewer"], corrected_answer={"label": "nope"})


def test_two_reviewers_keep_their_own_grades(output, people):
    services.grade_submit(output=output, reviewer=people["reviewer"], verdict="pass")
    services.grade_submit(output=output, reviewer=people["lead"], verdict="fail")
    assert set(Grade.objects.values_list("verdict", flat=True)) == {"pass", "fail"}
    output.refresh_from_db()
    assert output.review_count == 2


@pytest.mark.django_db(transaction=True)
def test_simultaneous_grades_are_all_kept(project, dataset, prompt_version, people, graded_run):
    """Two reviewers (and one reviewer twice) submit at the same moment: nothing is silently lost."""
    output_id = graded_run.outputs.first().id
    barrier = threading.Barrier(3)
    errors = []

    def grade(user, verdict):
        try:
            barrier.wait()
            target = Output.objects.select_related("record", "run__project").get(id=output_id)
            services.grade_submit(output=target, reviewer=user, verdict=verdict)
        except ApplicationError as exc:
            errors.append(exc.message)
        finally:
            connection.close()

    threads = [threading.Thread(target=grade, args=args) for args in
               ((people["reviewer"], "pass"), (people["lead"], "fail"), (people["reviewer"], "fail"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    grades = Grade.objects.filter(output_id=output_id)
    assert grades.filter(reviewer=people["lead"], verdict="fail").exists()
    assert grades.filter(reviewer=people["reviewer"]).count() == 1
    # The reviewer's two submissions: either both applied in turn, or the later one was refused with a reason.
    assert len(errors) <= 1 and all("another tab" in e for e in errors)
    assert Output.objects.get(id=output_id).review_count == 2


def test_leakage_guard_refuses_a_test_case_that_is_a_training_example(project, people):
    services.training_example_create(project=project, messages=[], answer={"label": "billing"},
                                     text="Refund  my ORDER please", user=people["lead"])
    with pytest.raises(ApplicationError, match=r"training example #\d+ \(\"Refund  my ORDER please\"\)"):
        services.test_case_create(project=project, text="refund my order   please", expected={"label": "billing"})


def test_leakage_guard_refuses_an_example_that_is_a_test_case(project):
    case = services.test_case_create(project=project, text="Hold my parcels", expected={"label": "billing"})
    with pytest.raises(ApplicationError, match=f"test case #{case.id}"):
        services.training_example_create(project=project, messages=[], answer={"label": "billing"},
                                         text="hold my PARCELS")


def test_a_correction_of_a_held_out_record_is_kept_but_makes_no_example(output, people, project):
    services.test_case_create(project=project, text=output.record.text, expected={"label": "billing"})
    result = services.grade_submit(output=output, reviewer=people["reviewer"], corrected_answer={"label": "technical"})
    assert result.grade.verdict == "fail" and TrainingExample.objects.count() == 0
    assert "held out as test case" in result.refused[0]  # the issue moved refusals out of the notes


def test_make_test_case_replaces_the_training_example(output, people):
    services.grade_submit(output=output, reviewer=people["reviewer"], corrected_answer={"label": "technical"},
                          point_names=["p1"])
    result = services.grade_submit(output=output, reviewer=people["reviewer"], point_names=["p1"],
                                   make_test_case=True)
    assert TrainingExample.objects.count() == 0
    case = TestCase.objects.get()
    assert case.expected == {"label": "technical"} and case.record == output.record
    assert result.notes == [f"Made test case #{case.id}."]


def test_undo_takes_back_the_last_grade_and_what_it_made(output, people, graded_run):
    services.grade_submit(output=output, reviewer=people["reviewer"], corrected_answer={"label": "technical"})
    assert services.grade_undo(reviewer=people["reviewer"], run=graded_run) == output
    assert Grade.objects.count() == 0 and TrainingExample.objects.count() == 0
    output.refresh_from_db()
    assert output.review_count == 0
    assert services.grade_undo(reviewer=people["reviewer"], run=graded_run) is None


def test_merge_moves_everything_to_the_target(output, people, project):
    services.grade_submit(output=output, reviewer=people["reviewer"], corrected_answer={"label": "technical"},
                          point_names=["hold vs pause"])
    source = project.training_points.get(name="hold vs pause")
    target = services.point_create(project=project, name="hold means pause", description="ours")
    case = services.test_case_create(project=project, text="Pause it", expected={"label": "billing"},
                                     points=[source])
    services.point_merge(source=source, target=target)
    assert not project.training_points.filter(name="hold vs pause").exists()
    assert target.grades.count() == 1 and target.training_examples.count() == 1
    assert list(target.test_cases.all()) == [case]


def test_the_queue_gives_two_reviewers_different_outputs(graded_run, people):
    first = queue_take(run=graded_run, reviewer=people["reviewer"])
    second = queue_take(run=graded_run, reviewer=people["lead"])
    assert first and second and first.id != second.id
    assert queue_take(run=graded_run, reviewer=people["reviewer"]).id == first.id  # still held for the first


def test_with_two_reviews_per_output_both_reviewers_get_it(graded_run, people):
    graded_run.reviews_per_output = 2
    graded_run.save()
    first = queue_take(run=graded_run, reviewer=people["reviewer"])
    assert first == queue_take(run=graded_run, reviewer=people["lead"])


def test_the_queue_skips_what_i_graded_and_ends(graded_run, people):
    for output in graded_run.outputs.select_related("record", "run__project"):
        services.grade_submit(output=output, reviewer=people["reviewer"], verdict="pass")
    assert queue_take(run=graded_run, reviewer=people["reviewer"]) is None


def test_agreement_and_the_adjudication_queue(graded_run, people, project):
    outputs = list(graded_run.outputs.select_related("record", "run__project").order_by("id"))
    for output, (a, b) in zip(outputs, [("pass", "pass"), ("pass", "fail"), ("fail", "fail")], strict=True):
        services.grade_submit(output=output, reviewer=people["reviewer"], verdict=a)
        services.grade_submit(output=output, reviewer=people["lead"], verdict=b)
    figures = selectors.agreement(project)
    assert figures["outputs"] == 3 and len(figures["pairs"]) == 1 and figures["pairs"][0]["items"] == 3
    # observed 2/3; chance (2*1 + 1*2) / 9 = 4/9; kappa = (2/3 - 4/9) / (5/9) = 0.4
    assert figures["pairs"][0]["verdict_kappa"] == pytest.approx(0.4)
    assert [o.id for o in selectors.disagreements(project)] == [outputs[1].id]
    services.adjudicate(output=outputs[1], lead=people["lead"], verdict="pass")
    assert selectors.disagreements(project) == []


def test_text_segments_mark_terms_and_spans_in_one_pass():
    text = "Put a hold on Acme Corp"
    segments = text_segments(text, glossary=[{"term": "hold", "definition": "a pause"}],
                                       spans=[{"start": 14, "end": 23, "type": "PARTY"}])
    assert [(s["text"], s["span"], s["term"]) for s in segments] == [
        ("Put a ", None, None), ("hold", None, "a pause"), (" on ", None, None), ("Acme Corp", 0, None)]


def test_a_long_record_with_200_spans_segments_quickly():
    import time

    words = [f"w{n}" for n in range(5000)]
    text = " ".join(words)
    spans, position = [], 0
    for n, word in enumerate(words):
        if n % 25 == 0:
            spans.append({"start": position, "end": position + len(word), "type": "PARTY"})
        position += len(word) + 1
    started = time.perf_counter()
    segments = text_segments(text, glossary=[], spans=spans)
    assert time.perf_counter() - started < 0.5
    assert sum(1 for s in segments if s["span"] is not None) == 200


def test_test_case_import_is_all_or_nothing_with_line_numbers(project):
    good = json.dumps({"text": "Pause my account", "expected": {"label": "billing"}, "points": ["hold"],
                       "paraphrase_group": "g1"})
    bad = json.dumps({"text": "x", "expected": {"label": "nope"}})
    with pytest.raises(ApplicationError) as caught:
        services.test_cases_import(project=project, stream=io.BytesIO(f"{good}\n{bad}\n{{oops\n".encode()))
    assert [p["line"] for p in caught.value.problems] == [2, 3]
    assert TestCase.objects.count() == 0
    assert services.test_cases_import(project=project, stream=io.BytesIO(good.encode())) == 1
    assert TestCase.objects.get().paraphrase_group == "g1"


def test_openai_chat_export_appends_the_answer_as_the_assistant_turn(project):
    services.training_example_create(project=project, messages=[{"role": "user", "content": "Ticket"}],
                                     answer={"label": "billing"}, text="Ticket")
    line = json.loads(next(exporters.training_examples(TrainingExample.objects.all(), "openai")))
    assert line == {"messages": [{"role": "user", "content": "Ticket"},
                                 {"role": "assistant", "content": '{"label": "billing"}'}]}


def test_a_new_point_can_be_created_while_tagging(output, people, project):
    services.grade_submit(output=output, reviewer=people["reviewer"], verdict="fail",
                          point_names=["New one", "new ONE"])
    assert list(project.training_points.values_list("name", flat=True)) == ["New one"]
