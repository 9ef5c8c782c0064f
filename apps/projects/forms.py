from django import forms

from apps.core.exceptions import ApplicationError

from .kinds import kinds_of_setting
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

    pass_threshold = forms.FloatField(
        min_value=0, max_value=1, initial=0.9, required=False,
        help_text="Eval gate: every training point's pass rate must reach this (0 to 1).")
    f1_threshold = forms.FloatField(
        min_value=0, max_value=1, initial=1.0, required=False,
        help_text="NER: a test case passes when its entity F1 reaches this (1.0 means every entity exact).")
    judge_rubric = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Generation: what the judge model checks when it grades an answer.")
    judge_min_kappa = forms.FloatField(
        min_value=0, max_value=1, initial=0.6, required=False, label="Judge: least agreement (kappa)",
        help_text="A judge model whose agreement with people (Cohen's kappa) is below this is not trusted.")
    judge_min_answers = forms.IntegerField(
        min_value=1, max_value=100000, initial=20, required=False, label="Judge: answers to measure it on",
        help_text="Answers graded by both the judge and people before its agreement counts.")

    def clean_judge_min_kappa(self):
        value = self.cleaned_data["judge_min_kappa"]
        return self.fields["judge_min_kappa"].initial if value is None else value

    def clean_judge_min_answers(self):
        value = self.cleaned_data["judge_min_answers"]
        return self.fields["judge_min_answers"].initial if value is None else value

    def clean_pass_threshold(self):
        value = self.cleaned_data["pass_threshold"]
        return self.fields["pass_threshold"].initial if value is None else value

    def clean_f1_threshold(self):
        value = self.cleaned_data["f1_threshold"]
        return self.fields["f1_threshold"].initial if value is None else value

    def clean_labels(self):
        return parse_terms(self.cleaned_data["labels"])

    def clean_entity_types(self):
        return parse_terms(self.cleaned_data["entity_types"])

    def clean_glossary(self):
        try:
            return parse_glossary(self.cleaned_data["glossary"])
        except ApplicationError as exc:
            raise forms.ValidationError(exc.message) from exc

    def rows(self):
        """(field, kinds, hidden) per field: the kinds a kind-specific field belongs to (space separated, '' for
        a field of every kind), hidden when the kind chosen (sent, else the project's) is not among them."""
        chosen = (self.data.get("task_kind") if self.is_bound else None) or self.initial.get("task_kind") \
            or self.fields["task_kind"].initial
        for field in self:
            kinds = kinds_of_setting(field.name)
            yield field, " ".join(kinds), bool(kinds) and chosen not in kinds

    @classmethod
    def initial_for(cls, project) -> dict:
        return {
            "name": project.name,
            "task_kind": project.task_kind,
            "labels": "\n".join(project.labels),
            "entity_types": "\n".join(project.entity_types),
            "guidelines": project.guidelines,
            "glossary": "\n".join(f"{g['term']}: {g['definition']}" for g in project.glossary),
            "pass_threshold": project.pass_threshold,
            "f1_threshold": project.f1_threshold,
            "judge_rubric": project.judge_rubric,
            "judge_min_kappa": project.judge_min_kappa,
            "judge_min_answers": project.judge_min_answers,
        }
