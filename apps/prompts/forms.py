import json

from django import forms

from .models import PromptStyle
from .services import examples_problems

DEFAULT_SYSTEM = "You are a careful assistant for this task.\n\nGuidelines: follow the project's guidelines."


class PromptVersionForm(forms.Form):
    style = forms.ChoiceField(choices=PromptStyle.choices, initial=PromptStyle.PLAIN)
    system = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 6}), label="System message",
                             help_text="Variables: {labels}, {entity_types}, {glossary}, {examples}.")
    user_template = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), initial="{text}",
                                    label="User message", help_text="Must contain {text}, where the record goes.")
    examples = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 4}), label="Few-shot examples",
        help_text='One JSON object per line: {"text": "...", "answer": {"label": "..."}} '
                  '(NER: {"entities": [{"text": "...", "type": "..."}]}).',
    )
    note = forms.CharField(required=False, max_length=300, help_text="What changed, for the version history.")

    def __init__(self, *args, project, **kwargs):
        super().__init__(*args, **kwargs)
        self.project = project

    def clean_examples(self):
        examples, numbers = [], []
        for number, line in enumerate(self.cleaned_data["examples"].splitlines(), start=1):
            if not line.strip():
                continue
            try:
                example = json.loads(line)
            except json.JSONDecodeError as exc:
                raise forms.ValidationError(f"Example line {number} is not valid JSON ({exc.msg}).") from exc
            examples.append(example)
            numbers.append(number)
        problems = examples_problems(self.project, examples, line_numbers=numbers)
        if problems:
            raise forms.ValidationError(problems[0])
        return examples

    @classmethod
    def initial_for(cls, version) -> dict:
        return {
            "style": version.style, "system": version.system, "user_template": version.user_template,
            "examples": "\n".join(json.dumps(e, ensure_ascii=False) for e in version.examples),
        }


class PromptCreateForm(PromptVersionForm):
    name = forms.CharField(max_length=200)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    field_order = ["name", "description", "style", "system", "user_template", "examples", "note"]
