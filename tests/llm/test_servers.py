"""What real OpenAI-compatible servers do, played by the fake server: structured output per method, the probe,
the repair turn, errors people can act on, and concurrency that backs off. (tests/llm/test_real_servers.py
checks the same against transformers serve and llama.cpp's server.)"""

import json
import time

import pytest

from apps.llm import structured
from apps.llm.client import Caller, complete
from apps.llm.errors import server_error_text
from apps.llm.models import Model
from apps.llm.probe import probe
from apps.llm.providers import openai_compat
from apps.llm.services import model_create
from apps.projects.kinds import answer_schema
from tests.support.fake_llm import Fault

SCHEMA = {"type": "object", "properties": {"label": {"type": "string", "enum": ["billing", "technical"]}},
          "required": ["label"], "additionalProperties": False}
MESSAGES = [{"role": "system", "content": "Classify."}, {"role": "user", "content": "My invoice is wrong"}]


@pytest.fixture(autouse=True)
def _fresh_fallbacks():
    openai_compat._json_object_only.clear()
    openai_compat._no_stop.clear()
    yield
    openai_compat._json_object_only.clear()
    openai_compat._no_stop.clear()


def validate(answer):
    return [] if answer.get("label") in ("billing", "technical") else ["not a label"]


# --- reading replies ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, answer", [
    ('Here you go: {"label": "billing"} and {"x": 1}', {"label": "billing"}),
    ('```json\n{"label": "billing"}\n```\nThis is because {braces}', {"label": "billing"}),
    ("billing", {"label": "billing"}),
    ('"technical"', {"label": "technical"}),
    ("`billing`", {"label": "billing"}),
    ("Billing", None),  # not exactly a label
    ("billing, I think", None),
    ("[1, 2]", None),
])
def test_the_first_json_object_or_an_exact_bare_label_is_the_answer(text, answer):
    assert structured.parse_reply(text, SCHEMA)[0] == answer


def test_the_reason_for_no_answer_is_given():
    assert structured.parse_reply("no idea", SCHEMA) == (None, "the answer is not JSON")
    assert structured.parse_reply('{"label": "billing"', SCHEMA)[1].startswith("the answer is not valid JSON")
    assert structured.parse_reply("[1]", SCHEMA) == (None, "the answer is not a JSON object")


def test_schema_problems_say_what_does_not_fit():
    assert structured.schema_problems({"label": "billing"}, SCHEMA) == []
    assert "'refunds' is not one of ['billing', 'technical']" in structured.schema_problems({"label": "refunds"},
                                                                                             SCHEMA)[0]


def test_the_grammar_allows_only_the_labels():
    grammar = structured.schema_to_gbnf(SCHEMA)
    assert grammar.startswith("root ::= root-obj") and '"\\"billing\\""' in grammar and "technical" in grammar


# --- what each method sends --------------------------------------------------------------------------------

@pytest.mark.parametrize("method, field, value", [
    ("json_schema", "response_format", {"type": "json_schema",
                                        "json_schema": {"name": "answer", "schema": SCHEMA, "strict": True}}),
    ("json_object", "response_format", {"type": "json_object"}),
    ("llamacpp_schema", "response_format", {"type": "json_object", "schema": SCHEMA}),
    ("guided_json", "guided_json", SCHEMA),
    ("ollama_format", "format", SCHEMA),
])
def test_each_method_asks_the_server_its_own_way(remote_model, llm_server, method, field, value):
    remote_model.structured_output = method
    llm_server.answer = lambda body: '{"label": "billing"}'
    assert complete(remote_model, MESSAGES, schema=SCHEMA, validate=validate).valid
    sent = llm_server.requests[0]
    assert sent[field] == value and sent["stop"] == ["}"]


def test_the_prompt_method_describes_the_schema_in_the_system_message(remote_model, llm_server):
    remote_model.structured_output = "prompt"
    llm_server.answer = lambda body: 'The answer is:\n```json\n{"label": "technical"'  # stopped at its "}"
    result = complete(remote_model, MESSAGES, schema=SCHEMA, validate=validate)
    sent = llm_server.requests[0]
    assert "response_format" not in sent and json.dumps(SCHEMA) in sent["messages"][0]["content"]
    assert sent["messages"][0]["content"].startswith("Classify.")
    assert result.valid and result.answer == {"label": "technical"}


def test_nested_answers_get_no_stop_sequence(remote_model, llm_server, db):
    from tests.factories import NerProjectFactory

    complete(remote_model, MESSAGES, schema=answer_schema(NerProjectFactory()))
    assert "stop" not in llm_server.requests[0]


@pytest.mark.parametrize("reasoning", [False, True])
def test_only_answers_without_free_text_get_a_stop_sequence(remote_model, llm_server, project, reasoning):
    # A classification label cannot hold "}"; chain-of-thought `reasoning` and generation's `answer` can.
    complete(remote_model, MESSAGES, schema=answer_schema(project, reasoning=reasoning))
    assert llm_server.requests[0].get("stop") == (None if reasoning else ["}"])


@pytest.mark.parametrize("properties", [
    {"answer": {"type": "string"}},  # generation
    {"label": {"type": "string", "enum": ["billing", "{weird}"]}},
])
def test_a_string_that_may_hold_a_closing_brace_gets_no_stop_sequence(properties):
    assert structured.stop_sequences({"type": "object", "properties": properties}) == []


def test_a_server_that_refuses_stop_is_asked_again_without_it(remote_model, llm_server):
    llm_server.refuse_stop = True
    remote_model.max_retries = 0
    first = complete(remote_model, MESSAGES, schema=SCHEMA, validate=validate)
    second = complete(remote_model, MESSAGES, schema=SCHEMA, validate=validate)
    assert first.valid and second.valid, first.error
    assert ["stop" in r for r in llm_server.requests] == [True, False, False]


def test_a_500_that_names_json_schema_means_not_supported_not_transient(remote_model, llm_server):
    llm_server.fail_json_schema = True
    result = complete(remote_model, MESSAGES, schema=SCHEMA, validate=validate)
    kinds = [r["response_format"]["type"] for r in llm_server.requests]
    assert result.valid and kinds == ["json_schema", "json_object"]


@pytest.mark.parametrize("method, message", [
    ("llamacpp_schema", "temporary schema registry outage"),
    ("ollama_format", "Upstream sent a reply in a format we could not read; try again"),
    ("guided_json", "guided decoding backend restarting"),
])
def test_a_5xx_that_only_mentions_a_word_near_the_method_is_retried_as_transient(remote_model, llm_server, method,
                                                                                  message):
    remote_model.structured_output = method
    llm_server.faults.append(Fault.status_code(503, retry_after="0", message=message))
    result = complete(remote_model, MESSAGES, schema=SCHEMA, validate=validate)
    assert result.valid and len(llm_server.requests) == 2, result.error


@pytest.mark.parametrize("method, body", [
    ("ollama_format", {"detail": [{"loc": ["body", "format"], "msg": "Extra inputs are not permitted"}]}),
    ("ollama_format", {"error": {"message": "Unrecognized request argument supplied: 'format'"}}),
    ("grammar", {"error": {"message": "Unknown parameter: grammar"}}),
    ("guided_json", {"error": {"message": "guided_json is not supported"}}),
    ("llamacpp_schema", {"error": {"message": "response_format: Input should be 'text' or 'json_schema'"}}),
])
def test_a_refusal_that_names_the_parameter_sent_is_not_supported(remote_model, llm_server, method, body):
    llm_server.faults.append(Fault.status_code(400, body=body))
    report = probe(remote_model, messages=MESSAGES, schema=SCHEMA, methods=[method, "prompt"])
    outcome = {r.method: r.outcome for r in report.results}
    assert outcome[method] == "not supported" and outcome["prompt"] == "works", report.summary


# --- the repair turn ---------------------------------------------------------------------------------------

def _wrong_then_right(body):
    return '{"label": "refunds"}' if len(body["messages"]) == 2 else '{"label": "billing"}'


def test_an_invalid_answer_gets_a_repair_turn_counted_in_tokens_and_time(remote_model, llm_server):
    llm_server.answer = _wrong_then_right
    llm_server.delay = 0.1
    result = complete(remote_model, MESSAGES, schema=SCHEMA, validate=validate)
    assert result.valid and result.repaired and result.answer == {"label": "billing"}
    repair = llm_server.requests[1]["messages"]
    assert repair[2] == {"role": "assistant", "content": '{"label": "refunds"}'}
    assert repair[3]["role"] == "user" and "not a label" in repair[3]["content"]
    assert result.latency_ms >= 200 and result.output_tokens == 4 and result.input_tokens > 2 * 5
    assert '{"label": "refunds"}' in result.text and "[repair turn]" in result.text


def test_the_repair_turn_can_be_turned_off(remote_model, llm_server):
    llm_server.answer = _wrong_then_right
    result = complete(remote_model, MESSAGES, schema=SCHEMA, validate=validate, repair=False)
    assert not result.valid and result.problems == ["not a label"] and len(llm_server.requests) == 1


def test_a_failed_repair_turn_keeps_the_first_answer_as_invalid_with_its_reply_and_tokens(remote_model,
                                                                                           llm_server):
    def answer(body):
        if len(body["messages"]) > 2:  # the repair turn: slower than the model's timeout
            time.sleep(1.5)
        return '{"label": "refunds"}'

    llm_server.answer = answer
    remote_model.timeout_seconds = 0.5
    result = complete(remote_model, MESSAGES, schema=SCHEMA, validate=validate)
    assert result.status == "invalid" and result.error == "" and result.repaired
    assert result.text == '{"label": "refunds"}' and result.answer == {"label": "refunds"}
    assert result.output_tokens == 2 and result.input_tokens > 0
    assert result.problems[0] == "not a label"
    assert result.problems[1].startswith("the repair turn failed: no answer from ") and len(llm_server.requests) == 2


# --- errors people can act on ------------------------------------------------------------------------------

@pytest.mark.parametrize("body, text", [
    ({"error": {"message": "bad key"}}, "bad key"),
    ({"error": "overloaded"}, "overloaded"),
    ({"message": "no such route"}, "no such route"),
    ({"detail": "Server is pinned to 'a'"}, "Server is pinned to 'a'"),
    ({"detail": [{"loc": ["body", "messages"], "msg": "Field required"}]}, "messages: Field required"),
    ("plain words", "plain words"),
])
def test_the_servers_own_error_text_is_found_in_any_common_shape(body, text):
    assert server_error_text(body) == text


def test_an_html_error_page_becomes_a_short_plain_excerpt():
    page = "<html><head><style>p{color:red}</style><script>x()</script></head><body><h1>502 Bad Gateway</h1>" \
           + "<p>nginx</p>" + "<!-- padding -->" * 200 + "<p>" + "word " * 200 + "</p></body></html>"
    text = server_error_text(page, page)
    assert text.startswith("502 Bad Gateway nginx") and "<" not in text and "color" not in text
    assert len(text) <= 300


def test_a_wrong_model_id_shows_the_servers_text_and_the_ids_it_lists(remote_model, llm_server):
    llm_server.detail_errors, llm_server.pinned_model = True, "/models/SmolLM2"
    result = complete(remote_model, MESSAGES, schema=SCHEMA)
    assert result.error.startswith(f"The server refused the request: HTTP 400 from {llm_server.base_url}")
    assert "Server is pinned to '/models/SmolLM2'; requested 'fake-1'" in result.error
    assert "This server serves: /models/SmolLM2." in result.error and len(llm_server.requests) == 1


def test_a_dead_port_names_the_url(remote_model):
    remote_model.base_url, remote_model.max_retries = "http://127.0.0.1:9/v1", 0
    result = complete(remote_model, MESSAGES, schema=SCHEMA)
    assert "could not connect to http://127.0.0.1:9/v1/chat/completions" in result.error


# --- the probe ---------------------------------------------------------------------------------------------

def test_the_probe_reports_a_server_that_ignores_response_format(remote_model, llm_server):
    llm_server.ignore_response_format = True

    def answer(body):  # like a small model that is not held to a schema, unless the prompt shows it one
        return '{"label": "billing"}' if "JSON schema" in body["messages"][0]["content"] else "Sure! Here is code."

    llm_server.answer = answer
    report = probe(remote_model, messages=MESSAGES, schema=SCHEMA)
    outcomes = {r.method: r.outcome for r in report.results}
    assert report.reachable and outcomes["json_schema"] == "not JSON" and outcomes["prompt"] == "works"
    assert outcomes["json_object"] == "works" and report.recommended == "json_object"
    assert report.summary.startswith("reachable; ") and "json_schema not JSON" in report.summary
    assert report.model_ids == ["fake"] and report.seconds_per_answer is not None


def test_the_probe_finds_a_schema_ignored_even_when_the_tasks_own_prompt_asks_for_json(remote_model, llm_server):
    # Like transformers serve: response_format is dropped with HTTP 200; the model answers the task's prompt in
    # JSON because the prompt asks for it, and a plain question in plain words.
    llm_server.ignore_response_format = True
    llm_server.answer = lambda body: ('{"label": "billing"}' if body["messages"][0]["content"].startswith("Classify")
                                      else "The capital of France is Paris.")
    report = probe(remote_model, messages=MESSAGES, schema=SCHEMA)
    outcomes = {r.method: r.outcome for r in report.results}
    assert outcomes["json_schema"] == "ignored" and outcomes["llamacpp_schema"] == "ignored", report.summary
    assert outcomes["grammar"] == "ignored" and outcomes["prompt"] == "works"
    assert report.recommended == "json_object"  # the task's prompt with the schema described: it works
    assert report.summary.startswith("reachable; ignores response_format; json_schema ignored; ")
    assert "Paris" in next(r.detail for r in report.results if r.method == "json_schema")


def test_the_probe_finds_a_schema_enforced_when_even_a_plain_question_gets_fitting_json(remote_model, llm_server):
    # The default fake answers with the schema it was sent (an enforcing server), whatever the question.
    report = probe(remote_model, messages=MESSAGES, schema=SCHEMA, methods=["json_schema", "prompt"])
    outcomes = {r.method: r.outcome for r in report.results}
    assert outcomes == {"json_schema": "works", "prompt": "works"} and report.recommended == "json_schema"
    assert "ignores response_format" not in report.summary
    asked = [r["messages"][-1]["content"] for r in llm_server.requests if "response_format" in r]
    assert asked == ["My invoice is wrong", "What is the capital of France?"]


def test_the_probe_of_a_dead_port_says_unreachable_and_names_the_url(remote_model):
    remote_model.base_url = "http://127.0.0.1:9/v1"
    report = probe(remote_model, messages=MESSAGES, schema=SCHEMA)
    assert not report.reachable and report.results == [] and report.recommended == ""
    assert report.summary.startswith("unreachable: ") and "http://127.0.0.1:9/v1" in report.summary


def test_the_probe_stops_at_an_error_that_is_not_about_the_method(remote_model, llm_server):
    llm_server.detail_errors, llm_server.pinned_model = True, "served-model"
    report = probe(remote_model, messages=MESSAGES, schema=SCHEMA)
    assert report.reachable and "Server is pinned to 'served-model'" in report.error
    assert "served-model" in report.summary and len(llm_server.requests) == 1


# --- concurrency that fits the server ----------------------------------------------------------------------

def _answer_all(model, count, *, concurrency):
    import threading

    jobs = ((n, MESSAGES, validate) for n in range(count))
    arrived = []
    with Caller(model, concurrency=concurrency) as caller:
        for batch in caller.stream(jobs, schema=SCHEMA, stop=threading.Event(), tick_seconds=0.05):
            arrived.extend(batch)
        return arrived, caller.limit


def test_timeouts_on_a_one_at_a_time_server_lower_the_calls_in_flight_and_are_not_retried(remote_model,
                                                                                             llm_server):
    llm_server.one_at_a_time, llm_server.delay = True, 0.3
    remote_model.timeout_seconds, remote_model.max_concurrency = 0.7, 8
    arrived, limit = _answer_all(remote_model, 12, concurrency=8)
    statuses = [c.status for _, c in arrived]
    assert len(arrived) == 12 and len(llm_server.requests) == 12  # nothing retried into the backlog
    assert "error" in statuses and "ok" in statuses
    assert limit.lowest < 8 and limit.ceiling == 8


def test_a_run_never_has_more_calls_in_flight_than_the_models_setting(remote_model, llm_server):
    llm_server.delay = 0.1
    remote_model.max_concurrency = 2
    arrived, limit = _answer_all(remote_model, 10, concurrency=16)
    assert len(arrived) == 10 and llm_server.max_in_flight <= 2 and limit.ceiling == 2


def test_429s_lower_the_calls_in_flight_then_they_grow_again(remote_model, llm_server):
    llm_server.delay = 0.02
    llm_server.faults.extend([Fault.status_code(429, retry_after="0")] * 2)
    remote_model.max_concurrency = 4
    started = time.monotonic()
    arrived, limit = _answer_all(remote_model, 60, concurrency=4)
    assert all(c.status == "ok" for _, c in arrived) and time.monotonic() - started < 30
    assert limit.lowest < 4 and limit.limit == 4


# --- per-model defaults ------------------------------------------------------------------------------------

def test_a_self_hosted_server_gets_defaults_of_its_own(project):
    local = model_create(project=project, name="vLLM box", provider="openai", base_url="http://10.0.0.5:8000/v1",
                         model_id="m")
    hosted = model_create(project=project, name="OpenAI", provider="openai", base_url="https://api.openai.com/v1",
                          model_id="gpt-4o-mini")
    assert (local.max_concurrency, local.timeout_seconds, local.max_retries) == (2, 120.0, 2)
    assert (hosted.max_concurrency, hosted.timeout_seconds, hosted.max_retries) == (8, 30.0, 4)
    chosen = model_create(project=project, name="Mine", provider="openai", base_url="http://10.0.0.5:8000/v1",
                          model_id="m", max_concurrency=5, timeout_seconds=None)
    assert chosen.max_concurrency == 5 and chosen.timeout_seconds == 120.0
    assert Model.objects.count() == 3
