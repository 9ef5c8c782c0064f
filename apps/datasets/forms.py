from pathlib import Path

from django import forms

from .models import ImportFormat, Split

FORMAT_BY_EXTENSION = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".conll": "conll", ".bio": "conll"}


class DatasetForm(forms.Form):
    name = forms.CharField(max_length=200)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))


class ImportForm(forms.Form):
    file = forms.FileField(help_text="CSV, JSONL or CoNLL, UTF-8.")
    format = forms.ChoiceField(
        choices=[("", "Detect from the file name"), *ImportFormat.choices], required=False,
    )
    text_column = forms.CharField(required=False, initial="text", help_text="CSV: the column with the text.")
    label_column = forms.CharField(required=False, initial="label", help_text="CSV: the column with the label.")
    no_labels = forms.BooleanField(
        required=False, label="Import without labels",
        help_text="CSV: the file has no label column; import its records unlabelled although the project has labels.")
    iob1 = forms.BooleanField(
        required=False, label="Convert from IOB1",
        help_text="CoNLL: the file is IOB1 (entities start with I-, as in the original CoNLL-2003); an I- tag that "
                  "starts an entity becomes B-, and the import says how many were changed.")

    def offer_columns(self, columns: list[str]) -> None:
        """After a refusal, let the person pick the text and label columns from the file's own header."""
        choices = [(name, name) for name in columns]
        for name in ("text_column", "label_column"):
            self.fields[name].widget = forms.Select(choices=choices)
        text = self.data.get("text_column") or "text"
        self.data = self.data.copy()
        self.data["label_column"] = next((name for name in columns if name != text), "")
        self.fields["file"].help_text = "Choose the file again, with the columns below."

    def clean(self):
        cleaned = super().clean()
        upload = cleaned.get("file")
        if upload and not cleaned.get("format"):
            detected = FORMAT_BY_EXTENSION.get(Path(upload.name).suffix.lower())
            if not detected:
                raise forms.ValidationError("Choose the file's format: its name does not tell.")
            cleaned["format"] = detected
        return cleaned

    def import_options(self) -> dict:
        if self.cleaned_data["format"] == ImportFormat.CONLL:
            return {"iob1": "convert"} if self.cleaned_data.get("iob1") else {}
        if self.cleaned_data["format"] != ImportFormat.CSV:
            return {}
        return {"text_column": self.cleaned_data.get("text_column") or "text",
                "label_column": self.cleaned_data.get("label_column") or "label",
                "no_labels": self.cleaned_data.get("no_labels", False)}


class RecordFilterForm(forms.Form):
    q = forms.CharField(required=False, label="Search")
    label = forms.CharField(required=False)
    split = forms.ChoiceField(
        required=False, choices=[("", "Any split"), ("none", "Unassigned"), ("train", "Train"), ("test", "Test")],
    )


class SplitForm(forms.Form):
    MODES = [("set", "Put the matching records in one split"), ("random", "Random train/test split")]
    mode = forms.ChoiceField(choices=MODES, initial="random")
    target = forms.ChoiceField(choices=Split.choices, required=False)
    test_percent = forms.IntegerField(min_value=0, max_value=100, initial=20, required=False)
    seed = forms.IntegerField(initial=0, required=False)


class RecordsChosenForm(forms.Form):
    """Records ticked on a dataset's page for a bulk action; `confirm` is set by the confirmation page."""

    record = forms.ModelMultipleChoiceField(queryset=None, error_messages={
        "required": "Tick at least one record first.", "invalid_choice": "A chosen record is not in this dataset."})
    split = forms.ChoiceField(choices=Split.choices, required=False)
    confirm = forms.BooleanField(required=False)

    def __init__(self, dataset, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["record"].queryset = dataset.records.order_by("position")
