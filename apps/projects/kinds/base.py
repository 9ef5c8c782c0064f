"""The task-kind protocol: everything that differs by task kind, behind one class.

A kind is a `Kind` subclass, one instance per kind, registered in `apps.projects.kinds.KINDS` under its
`name` (the value of `Project.task_kind`). Runs, review, evals, datasets, deployments and the templates call
these methods and never compare `task_kind` themselves: adding a task kind is adding one module (a subclass
and `register(...)`) and its template partials under `templates/kinds/<name>/`.

The contract, for callers (every method is pure: no database, no network):

Answers (what a model replies, what a reviewer corrects, what a test case expects) are JSON objects.
- `answer_properties(project) -> dict`: the JSON-schema properties of a valid answer (without `reasoning`);
  `kinds.answer_schema(project, reasoning=...)` wraps them into the full schema sent to the model.
- `answer_instruction(project) -> str`: how the answer must look, in words, for the end of a prompt.
- `parse(project, text) -> dict | None`: the answer in a reply that holds no JSON object (e.g. a bare label
  that is exactly one of the labels), or None. JSON replies are read by the llm client; this is the fallback.
- `answer_problems(project, answer, *, text) -> list[str]`: why an answer (a dict) does not fit the project
  and the input text; empty when it is valid. Callers use `kinds.answer_problems`, which also refuses non-dicts.
- `identity(answer) -> str`: the answer as consistency and "same answer?" compare it, reasoning left out
  (two answers are the same exactly when their identities are equal). Only for valid answers: an invalid answer
  agrees with nothing (`kinds.answer_key(..., valid=False)` is unique).
- `score(project, expected, answer, *, valid, text="") -> Score`: the answer against a test case's expected
  answer, `text` the test case's input (NER places entities in it); `Score.passed` None means a judge model
  must decide (then `uses_judge` is True).
- `answer_summary(answer) -> str`: the answer in a few words, for tables and CSVs.
- `spans(answer, text) -> list[dict]`: character spans {start, end, type} of `text` to highlight (NER).
- `categories(answer) -> list[str]`: the categories an answer falls in (its label; its entities' types), for
  the label distributions of traffic and test sets (empty for free text).
Reasoning: `strip_reasoning(answer)` (in this module) is the one place `reasoning` is taken out of an answer.

Records and project settings:
- `record_problems(project, *, text, label, entities) -> list[str]`: why a record's expected answer (as
  imported) does not fit the project.
- `expected_answer(record) -> dict | None`: a record's expected answer in the answer format.
- `settings_problem(*, labels, entity_types) -> str`: why a project of this kind cannot work with these
  settings ("" when it can).
- `import_formats`: the dataset file formats that suit the kind, besides csv and jsonl.
- `record_field`: the Record field that holds a record's expected answer ("label", "entities" or "": none).

Review and filters:
- `choices(project) -> list[tuple[str, dict]]`: answers a reviewer picks with the number keys (caption, answer).
- `span_types(project) -> list[str]`: entity types a reviewer marks spans with (empty: no span editing).
- `filter_choices(project) -> list[str]` and `filter_lookup(value) -> dict`: the values a list of outputs can
  be filtered by (the predicted label) and the ORM lookup on the `answer` JSON field for one of them.

Forms and templates:
- `form_field(project, **kwargs) -> forms.Field`: the field that enters an answer (cleans to an answer dict,
  shows an answer dict as its initial value).
- `template(part) -> str`: the partial for `part`: "answer" and "expected" (rendered with `answer`, `project`
  and `kind`), "summary" (the project page's card) and "import_help" (the upload page's formats), rendered with
  `project` and `kind`. Templates use the tags of `apps/projects/templatetags/kinds.py`:
  `{% answer project value %}`, `{% expected project value %}`, `{% record_answer project record %}`,
  `{% kind_part project "summary" %}`; a kind without a partial of its own gets `templates/kinds/_<part>.html`.
  The answer form's partial is the template of its widget (`kinds/ner/form.html`).
- Capabilities templates and results read: `title`, `answer_noun` (a column heading), `uses_judge`,
  `has_f1` (scores carry span counts, so F1 columns are shown), `breakdown` ("labels": evals report
  per label with a confusion matrix; "entity types": per entity type with span error kinds; "": neither).
"""

import json
import unicodedata
from dataclasses import dataclass

from django import forms

REASONING = "reasoning"


@dataclass(frozen=True)
class Score:
    passed: bool | None  # None: a judge model must decide
    score: float | None = None
    true_positives: int | None = None
    false_positives: int | None = None
    false_negatives: int | None = None


def strip_reasoning(answer):
    """The answer without its chain-of-thought `reasoning` (kept for reviewers, never scored or compared)."""
    if not isinstance(answer, dict):
        return answer
    return {key: value for key, value in answer.items() if key != REASONING}


def canonical(value) -> str:
    """A stable text for a JSON value: keys sorted, strings in Unicode NFC, and lists as multisets (their items
    sorted), so the same entities in another order read the same. A kind whose lists are ordered overrides
    `identity`."""
    return json.dumps(_normalized(value), sort_keys=True, ensure_ascii=False)


def _normalized(value):
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value)
    if isinstance(value, dict):
        return {str(k): _normalized(v) for k, v in value.items()}
    if isinstance(value, list):
        return sorted((_normalized(v) for v in value), key=lambda v: json.dumps(v, sort_keys=True))
    return value


class Kind:
    """The defaults every kind shares; a kind overrides what differs (see the module docstring)."""

    name = ""
    title = ""
    answer_noun = "Answer"
    uses_judge = False
    has_f1 = False
    breakdown = ""
    import_formats: tuple[str, ...] = ()
    record_field = ""
    # The project settings (ProjectForm fields) that mean something only for this kind: the settings page shows
    # these for a project of this kind and hides those of the other kinds.
    settings_fields: tuple[str, ...] = ()

    # --- answers --------------------------------------------------------------------------
    def answer_properties(self, project) -> dict:
        raise NotImplementedError

    def answer_instruction(self, project) -> str:
        raise NotImplementedError

    def parse(self, project, text: str) -> dict | None:
        return None

    def answer_problems(self, project, answer: dict, *, text: str) -> list[str]:
        raise NotImplementedError

    def identity(self, answer) -> str:
        return canonical(strip_reasoning(answer))

    def score(self, project, expected, answer, *, valid: bool, text: str = "") -> Score:
        hit = valid and self.identity(answer) == self.identity(expected)
        return Score(hit, 1.0 if hit else 0.0)

    def answer_summary(self, answer) -> str:
        return canonical(strip_reasoning(answer)) if isinstance(answer, dict) else ""

    def spans(self, answer, text: str) -> list[dict]:
        return []

    def categories(self, answer) -> list[str]:
        return []

    # --- records and settings ---------------------------------------------------------------
    def record_problems(self, project, *, text: str, label: str, entities) -> list[str]:
        problems = []
        if label:
            problems.append(f"a label is only for classification projects; this is a {self.title.lower()} project")
        if entities:
            problems.append(f"entities are only for NER projects; this is a {self.title.lower()} project")
        return problems

    def expected_answer(self, record) -> dict | None:
        return None

    def gold_spans(self, record) -> list[dict] | None:
        """The dataset's own spans of a record ({"start", "end", "type"}), None when it has none to show."""
        return None

    def settings_problem(self, *, labels: list, entity_types: list) -> str:
        return ""

    # --- review and filters -----------------------------------------------------------------
    def choices(self, project) -> list[tuple[str, dict]]:
        return []

    def span_types(self, project) -> list[str]:
        return []

    def filter_choices(self, project) -> list[str]:
        return []

    def filter_lookup(self, value: str) -> dict:
        return {}

    # --- forms and templates ----------------------------------------------------------------
    def form_field(self, project, **kwargs) -> forms.Field:
        return JsonAnswerField(**kwargs)

    def template(self, part: str) -> str:
        return f"kinds/{self.name}/{part}.html"


def json_answer(value) -> dict | None:
    """A JSON object typed or posted as text (forms take it beside their own widget's value), or None."""
    if not isinstance(value, str) or not value.strip().startswith("{"):
        return None
    try:
        answer = json.loads(value)
    except json.JSONDecodeError:
        return None
    return answer if isinstance(answer, dict) else None


class JsonAnswerField(forms.CharField):
    """An answer typed as a JSON object: the fallback form field of a kind with no widget of its own."""

    def __init__(self, **kwargs):
        kwargs.setdefault("widget", forms.Textarea(attrs={"rows": 2}))
        super().__init__(**kwargs)

    def prepare_value(self, value):
        return json.dumps(value, ensure_ascii=False) if isinstance(value, dict) else value

    def to_python(self, value):
        value = super().to_python(value)
        if not value:
            return None
        try:
            answer = json.loads(value)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError("Not valid JSON.") from exc
        if not isinstance(answer, dict):
            raise forms.ValidationError("Give a JSON object.")
        return answer
