from django import forms

from apps.core.exceptions import ApplicationError

from .models import TaskKind
from .services import parse_glossary, parse_terms


class ProjectForm(forms.Form):
    name = forms.CharField(max_length=200)
    task_kind = forms.ChoiceField(choices=TaskKind.choices, initial=TaskKind.CLASSIFICATION)
    labels = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Classification: one label per line (or comma separated).",
    )
    entity_types = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3}),
        help_text="NER: one entity type per line, e.g. PARTY, DATE.",
    )
    guidelines = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 5}))
    glossary = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 5}),
        help_text="One term per line as 'term: the organisation's definition'.",
    )

    def clean_labels(self):
        return parse_terms(self.cleaned_data["labels"])

    def clean_entity_types(self):
        return parse_terms(self.cleaned_data["entity_types"])

    def clean_glossary(self):
        try:
            return parse_glossary(self.cleaned_data["glossary"])
        except ApplicationError as exc:
            raise forms.ValidationError(exc.message) from exc

    @classmethod
    def initial_for(cls, project) -> dict:
        return {
            "name": project.name,
            "task_kind": project.task_kind,
            "labels": "\n".join(project.labels),
            "entity_types": "\n".join(project.entity_types),
            "guidelines": project.guidelines,
            "glossary": "\n".join(f"{g['term']}: {g['definition']}" for g in project.glossary),
        }
