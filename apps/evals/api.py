from drf_spectacular.utils import extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.models import Role
from apps.accounts.selectors import project_for_user
from apps.core.api import paginate
from apps.llm.models import TEMPERATURE_RANGE, Model
from apps.llm.selectors import models_for_project
from apps.prompts.models import PromptPurpose, PromptVersion
from apps.prompts.selectors import versions_in_project
from apps.review.models import TrainingPoint
from apps.tuning.selectors import job_for_user

from . import calibration, human_review, label_results, selectors, services
from .human_review import MAX_SENT, Which
from .models import EvalRun, PointResult


class PointResultSerializer(serializers.ModelSerializer):
    point_name = serializers.SerializerMethodField()

    class Meta:
        model = PointResult
        fields = ["point", "point_name", "test_cases", "test_cases_passed", "outputs", "passed", "errors",
                  "pass_rate", "ci_low", "ci_high", "consistency", "paraphrase_agreement", "latency_p50_ms",
                  "latency_p95_ms", "mean_input_tokens", "mean_output_tokens", "f1_micro", "f1_macro", "verdict",
                  "p_value", "pass_all", "confirmable_rise", "confirmable_fall", "cases_to_confirm"]
        extra_kwargs = {"f1_macro": {"help_text": "NER: the mean of the answers' F1s over test cases (not the macro "
                                                  "over entity types: see the eval's `labels`)."}}

    def get_point_name(self, obj) -> str:
        return obj.point.name if obj.point_id else "All test cases"


CostSerializer = inline_serializer("EvalCost", allow_null=True, fields={
    "input_tokens": serializers.IntegerField(), "output_tokens": serializers.IntegerField(),
    "total": serializers.FloatField(allow_null=True, help_text="Null when a price of the model is unknown."),
    "per_thousand_answers": serializers.FloatField(allow_null=True),
})


class EvalRunSerializer(serializers.ModelSerializer):
    progress = serializers.SerializerMethodField()
    results = serializers.SerializerMethodField()
    gate = serializers.SerializerMethodField()
    gate_message = serializers.SerializerMethodField()
    cost = serializers.SerializerMethodField()

    class Meta:
        model = EvalRun
        fields = ["id", "model", "prompt_version", "points", "repeats", "temperature", "concurrency", "repair",
                  "judge_model", "judge_prompt_version", "baseline", "note", "status", "total", "progress", "gate",
                  "gate_message",
                  "results", "cost", "notices", "error", "created_at", "started_at", "finished_at"]

    def get_progress(self, obj) -> dict:
        return selectors.progress(obj)

    def get_results(self, obj) -> list[dict]:
        return PointResultSerializer(obj.results.select_related("point"), many=True).data

    def get_gate(self, obj) -> dict:
        """`passed` is null until the eval finishes; a CI pipeline fails the build when it is false."""
        points = [r for r in obj.results.select_related("point") if r.point]
        regressed = sorted(r.point.name for r in points if r.verdict == "regressed")
        below = sorted(r.point.name for r in points if r.pass_rate < obj.project.pass_threshold)
        return {"passed": obj.gate_passed, "threshold": obj.project.pass_threshold, "regressed": regressed,
                "below_threshold": below}

    def get_gate_message(self, obj) -> str:
        """The points that block the gate and why (empty when it passed or has not run)."""
        return selectors.gate_message(obj, selectors.result_rows(obj)) if obj.gate_passed is False else ""

    @extend_schema_field(CostSerializer)
    def get_cost(self, obj):
        """The answers' tokens and cost at the model's prices (the judge's calls not counted); null until done."""
        cost = selectors.eval_cost(obj)
        if cost is None:
            return None
        return {"input_tokens": cost.input_tokens, "output_tokens": cost.output_tokens, "total": cost.total,
                "per_thousand_answers": cost.per_thousand}


class VerdictCountsSerializer(serializers.Serializer):
    human = serializers.IntegerField(help_text="Answers whose verdict is people's (graded in review).")
    judge = serializers.IntegerField(help_text="Answers whose verdict is the judge model's alone.")
    rule = serializers.IntegerField(help_text="Answers whose verdict is the rule's alone (label, entity F1).")
    unscored = serializers.IntegerField()
    in_review = serializers.IntegerField(help_text="Answers sent to review.")


class JudgeAgreementSerializer(serializers.Serializer):
    point = serializers.IntegerField(allow_null=True, help_text="null: all test cases.")
    name = serializers.CharField()
    answers = serializers.IntegerField(help_text="Answers graded by both the judge and people.")
    agreed = serializers.IntegerField()
    kappa = serializers.FloatField(allow_null=True)
    true_positive_rate = serializers.FloatField(allow_null=True)
    true_negative_rate = serializers.FloatField(allow_null=True)
    judge_only_pass = serializers.IntegerField(help_text="The judge passed, people failed.")
    people_only_pass = serializers.IntegerField(help_text="People passed, the judge failed.")


class JudgeTrustSerializer(serializers.Serializer):
    state = serializers.ChoiceField(choices=["trusted", "untrusted", "not measured yet"])
    sentence = serializers.CharField()
    answers = serializers.IntegerField()
    kappa = serializers.FloatField(allow_null=True)
    min_kappa = serializers.FloatField()
    min_answers = serializers.IntegerField()


class EvalDetailSerializer(EvalRunSerializer):
    """An eval with its breakdown: per label (classification) or entity type (NER), overall and per point;
    whose verdicts its answers carry, and its judge against people."""

    labels = serializers.SerializerMethodField()
    confusion = serializers.SerializerMethodField()
    verdicts = serializers.SerializerMethodField()
    judge_agreement = serializers.SerializerMethodField()
    judge_trust = serializers.SerializerMethodField()

    class Meta(EvalRunSerializer.Meta):
        fields = [*EvalRunSerializer.Meta.fields, "labels", "confusion", "verdicts", "judge_agreement",
                  "judge_trust"]

    @extend_schema_field(VerdictCountsSerializer)
    def get_verdicts(self, obj):
        return selectors.verdict_counts(obj)

    @extend_schema_field(JudgeAgreementSerializer(many=True))
    def get_judge_agreement(self, obj):
        """The judge against people on this eval's answers, overall then per point; empty without a judge."""
        return [{"point": row["point_id"], "name": row["name"], "answers": a.answers, "agreed": a.agreed,
                 "kappa": a.kappa, "true_positive_rate": a.true_positive_rate,
                 "true_negative_rate": a.true_negative_rate, "judge_only_pass": a.judge_only_pass,
                 "people_only_pass": a.people_only_pass}
                for row in calibration.eval_agreement(obj) for a in [row["agreement"]]]

    @extend_schema_field(JudgeTrustSerializer(allow_null=True))
    def get_judge_trust(self, obj):
        """Whether its judge (model × judge prompt version) is trusted, over the project's evals; null without."""
        trust = calibration.judge_trust(obj)
        if trust is None:
            return None
        return {"state": trust.state, "sentence": trust.sentence, "answers": trust.agreement.answers,
                "kappa": trust.agreement.kappa, "min_kappa": trust.min_kappa, "min_answers": trust.min_answers}

    def get_labels(self, obj) -> list[dict]:
        """Precision, recall, F1 and support per label or entity type, micro and macro F1 (NER: span error
        kinds), overall first; every output counts. Empty for a generation project."""
        return [label_results.report_data(b) for b in self._breakdown(obj)]

    def get_confusion(self, obj) -> list[dict]:
        """Classification: expected × answered counts, the last column non-answers ('invalid'); else empty."""
        return [label_results.confusion_data(b) for b in self._breakdown(obj) if b.matrix]

    def _breakdown(self, obj) -> list:
        if getattr(self, "_computed", None) is None:
            self._computed = label_results.label_results(obj)
        return self._computed


class EvalCreateSerializer(serializers.Serializer):
    model = serializers.PrimaryKeyRelatedField(queryset=Model.objects.none())
    prompt_version = serializers.PrimaryKeyRelatedField(queryset=PromptVersion.objects.none())
    points = serializers.PrimaryKeyRelatedField(queryset=TrainingPoint.objects.none(), many=True, required=False)
    repeats = serializers.IntegerField(min_value=1, max_value=20, default=3)
    temperature = serializers.FloatField(min_value=TEMPERATURE_RANGE[0], max_value=TEMPERATURE_RANGE[1],
                                         required=False, allow_null=True, default=None,
                                         help_text="The temperature of every repeat; null: the model's own.")
    concurrency = serializers.IntegerField(min_value=1, max_value=64, default=8)
    repair = serializers.BooleanField(default=True)
    baseline = serializers.PrimaryKeyRelatedField(queryset=EvalRun.objects.none(), required=False, allow_null=True)
    judge_model = serializers.PrimaryKeyRelatedField(queryset=Model.objects.none(), required=False, allow_null=True)
    judge_prompt_version = serializers.PrimaryKeyRelatedField(
        queryset=PromptVersion.objects.none(), required=False, allow_null=True,
        help_text="A judge prompt version of the project; empty: its judge prompt as it stands.")
    note = serializers.CharField(required=False, default="", allow_blank=True, max_length=200)

    def __init__(self, *args, project=None, **kwargs):
        super().__init__(*args, **kwargs)
        if project is None:  # the schema generator makes one without a project
            return
        self.fields["model"].queryset = models_for_project(project)
        self.fields["judge_model"].queryset = models_for_project(project)
        self.fields["prompt_version"].queryset = versions_in_project(project)
        self.fields["judge_prompt_version"].queryset = versions_in_project(project, purpose=PromptPurpose.JUDGE)
        self.fields["points"].child_relation.queryset = project.training_points.all()
        self.fields["baseline"].queryset = selectors.finished_evals(project)


class EvalListApi(APIView):
    @extend_schema(responses=EvalRunSerializer(many=True))
    def get(self, request, project_id):
        project = project_for_user(request.user, project_id)
        return paginate(request, self, selectors.evals_of(project), EvalRunSerializer)

    @extend_schema(request=EvalCreateSerializer, responses={201: EvalRunSerializer})
    def post(self, request, project_id):
        """Create an eval run over the test cases of the chosen training points (all when none) and queue it."""
        project = project_for_user(request.user, project_id, role=Role.LEAD)
        serializer = EvalCreateSerializer(data=request.data, project=project)
        serializer.is_valid(raise_exception=True)
        eval_run = services.eval_create(project=project, user=request.user, **serializer.validated_data)
        return Response(EvalRunSerializer(eval_run).data, status=status.HTTP_201_CREATED)


class EvalDetailApi(APIView):
    @extend_schema(responses=EvalDetailSerializer)
    def get(self, request, eval_id):
        """Status, progress, results per training point, the gate's verdict, and per label or entity type."""
        return Response(EvalDetailSerializer(selectors.eval_for_user(request.user, eval_id)).data)


class EvalCancelApi(APIView):
    @extend_schema(request=None, responses=EvalRunSerializer)
    def post(self, request, eval_id):
        eval_run = selectors.eval_for_user(request.user, eval_id, role=Role.LEAD)
        services.eval_cancel(eval_run=eval_run)
        return Response(EvalRunSerializer(eval_run).data)


class ReviewSendSerializer(serializers.Serializer):
    which = serializers.ChoiceField(choices=Which.CHOICES, default=Which.FAILING)
    sample_size = serializers.IntegerField(min_value=1, max_value=MAX_SENT, default=50,
                                           help_text="For which=sample: how many answers at random.")


class EvalReviewApi(APIView):
    @extend_schema(request=ReviewSendSerializer, responses={201: inline_serializer("ReviewSent", {
        "review_run": serializers.IntegerField(help_text="The run whose review screen grades them."),
        "sent": serializers.IntegerField(), "left_out": serializers.IntegerField(
            help_text="Answers that matched beyond the most sent at once: send again for them.")})})
    def post(self, request, eval_id):
        """Send a finished eval's answers to review (all, failing, a sample, or where the judge and the rule
        disagree); people's grades then count as those answers' verdicts."""
        eval_run = selectors.eval_for_user(request.user, eval_id, role=Role.LEAD)
        serializer = ReviewSendSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        sent = human_review.eval_review_send(eval_run=eval_run, user=request.user, **serializer.validated_data)
        return Response({"review_run": sent.run.id, "sent": sent.count, "left_out": sent.left_out},
                        status=status.HTTP_201_CREATED)


@extend_schema_field({"type": "array", "items": {"allOf": [{"$ref": "#/components/schemas/PointResult"}],
                                                 "nullable": True}})
class ResultCellsField(serializers.ListField):
    """A stored result per column; null where the column has none."""


@extend_schema_field({"type": "array", "items": {
    "type": "object", "nullable": True, "required": ["precision", "recall", "f1", "support"],
    "properties": {"precision": {"type": "number"}, "recall": {"type": "number"}, "f1": {"type": "number"},
                   "support": {"type": "integer"}}}})
class LabelCellsField(serializers.ListField):
    """A label's precision, recall, F1 and support per column; null where it was neither expected nor answered."""


DashboardSerializer = inline_serializer("Dashboard", {
    "columns": inline_serializer("DashboardColumn", many=True, fields={
        "eval_run": serializers.IntegerField(), "model": serializers.IntegerField(),
        "model_name": serializers.CharField(), "prompt_version": serializers.IntegerField(),
        "prompt": serializers.CharField(), "finished_at": serializers.DateTimeField(allow_null=True),
        "cost_per_1000_answers": serializers.FloatField(allow_null=True)}),
    "overall": ResultCellsField(help_text="All test cases' result per column."),
    "rows": inline_serializer("DashboardRow", many=True, fields={
        "point": serializers.IntegerField(), "point_name": serializers.CharField(), "cells": ResultCellsField()}),
    "labels": inline_serializer("DashboardLabels", help_text=(
        "Per label (classification) or entity type (NER) × the same columns, over all of each eval's test "
        "cases."), fields={
        "breakdown": serializers.CharField(help_text='"labels", "entity types", or "" for a kind without a '
                                                     "breakdown (generation), whose rows are empty."),
        "rows": inline_serializer("DashboardLabelRow", many=True, fields={
            "label": serializers.CharField(), "cells": LabelCellsField()}),
        "macro_f1": serializers.ListField(child=serializers.FloatField(allow_null=True)),
        "micro_f1": serializers.ListField(child=serializers.FloatField(allow_null=True))}),
})


def label_matrix_data(labels: dict) -> dict:
    """The per-label view's measures, a list per column as the pass-rate rows have."""
    def measures(row):
        return None if row is None else {"precision": row.precision, "recall": row.recall, "f1": row.f1,
                                         "support": row.support}

    by_label = [{r.label: r for r in report.rows} if report else {} for report in labels["reports"]]
    return {"breakdown": labels["breakdown"],
            "rows": [{"label": name, "cells": [measures(rows.get(name)) for rows in by_label]}
                     for name in labels["labels"]],
            "macro_f1": [report.macro_f1 if report else None for report in labels["reports"]],
            "micro_f1": [report.micro.f1 if report else None for report in labels["reports"]]}


class DashboardApi(APIView):
    @extend_schema(responses=DashboardSerializer)
    def get(self, request, project_id):
        """The pass-rate matrix: training points × the latest eval of each (model, prompt version); and the
        same columns per label or entity type (`labels`)."""
        project = project_for_user(request.user, project_id)
        grid = selectors.matrix(project)
        filled = [cell.result for row in grid["table"] for cell in row["cells"] if cell.result]
        data = iter(PointResultSerializer(filled, many=True).data)  # one serializer for every cell

        def cells(row_cells):
            return [next(data) if c.result else None for c in row_cells]

        costs = {v["column"].id: v["cost_per_thousand"] for v in selectors.version_summaries(grid)}
        return Response({
            "columns": [{"eval_run": c.id, "model": c.model_id, "model_name": c.model.name,
                         "prompt_version": c.prompt_version_id, "prompt": str(c.prompt_version),
                         "finished_at": c.finished_at, "cost_per_1000_answers": costs.get(c.id)}
                        for c in grid["columns"]],
            "overall": cells(grid["overall"]),
            "rows": [{"point": r["point"].id, "point_name": r["point"].name, "cells": cells(r["cells"])}
                     for r in grid["rows"]],
            "labels": label_matrix_data(selectors.label_matrix(project, grid["columns"])),
        })


class FineTuneEvaluateApi(APIView):
    @extend_schema(request=inline_serializer("FineTuneEvaluate", {
        "prompt_version": serializers.IntegerField(), "repeats": serializers.IntegerField(required=False)}),
        responses={201: inline_serializer("FineTuneEvals", {"base": EvalRunSerializer(),
                                                            "fine_tuned": EvalRunSerializer()})})
    def post(self, request, job_id):
        """Evaluate a fine-tuned model against its base: two evals of the same test cases, the second with the
        first as its baseline (the page's *Evaluate against its base*)."""
        job = job_for_user(request.user, job_id, role=Role.LEAD)
        version = versions_in_project(job.project).filter(id=request.data.get("prompt_version")).first()
        if version is None:
            raise serializers.ValidationError({"prompt_version": "Give a prompt version of this project."})
        repeats = int(request.data.get("repeats") or 3)
        base, tuned = services.evals_for_finetune(job=job, prompt_version=version, repeats=repeats,
                                                  user=request.user)
        return Response({"base": EvalRunSerializer(base).data, "fine_tuned": EvalRunSerializer(tuned).data},
                        status=status.HTTP_201_CREATED)
