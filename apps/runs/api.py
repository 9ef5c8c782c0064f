from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.models import Role
from apps.accounts.selectors import project_for_user
from apps.core.api import paginate
from apps.core.params import choice_param
from apps.datasets.models import Dataset
from apps.llm.models import Model
from apps.llm.selectors import models_for_project
from apps.prompts.models import PromptVersion
from apps.prompts.selectors import versions_in_project

from . import selectors, services
from .models import Output, OutputStatus, Run


class RunSerializer(serializers.ModelSerializer):
    counts = serializers.SerializerMethodField()

    class Meta:
        model = Run
        fields = ["id", "prompt_version", "model", "dataset", "selection", "repeats", "concurrency", "repair",
                  "reviews_per_output", "status",
                  "total", "counts", "error", "created_at", "started_at", "finished_at"]

    def get_counts(self, obj) -> dict:
        return selectors.output_counts(obj)


class RunCreateSerializer(serializers.Serializer):
    prompt_version = serializers.PrimaryKeyRelatedField(queryset=PromptVersion.objects.none())
    model = serializers.PrimaryKeyRelatedField(queryset=Model.objects.none())
    dataset = serializers.PrimaryKeyRelatedField(queryset=Dataset.objects.none())
    split = serializers.ChoiceField(choices=["train", "test", "none"], required=False)
    q = serializers.CharField(required=False, default="", allow_blank=True)
    label = serializers.CharField(required=False, default="", allow_blank=True)
    repeats = serializers.IntegerField(min_value=1, max_value=20, default=1)
    concurrency = serializers.IntegerField(min_value=1, max_value=64, default=8)
    repair = serializers.BooleanField(default=True)
    reviews_per_output = serializers.IntegerField(min_value=1, max_value=5, default=1)
    launch = serializers.BooleanField(default=True, help_text="Queue it now (the default).")

    def __init__(self, *args, project=None, **kwargs):
        super().__init__(*args, **kwargs)
        if project is None:  # the schema generator makes one without a project
            return
        self.fields["prompt_version"].queryset = versions_in_project(project)
        self.fields["model"].queryset = models_for_project(project)
        self.fields["dataset"].queryset = Dataset.objects.filter(project=project)

    def run_arguments(self) -> dict:
        data = dict(self.validated_data)
        split = data.pop("split", None)
        data["split"] = "" if split == "none" else split
        return data


class OutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Output
        fields = ["id", "record", "repeat", "status", "answer", "raw_text", "problems", "error", "latency_ms",
                  "input_tokens", "output_tokens", "messages", "created_at"]


class RunListApi(APIView):
    @extend_schema(responses=RunSerializer(many=True))
    def get(self, request, project_id):
        project = project_for_user(request.user, project_id)
        return paginate(request, self, selectors.runs_of(project), RunSerializer)

    @extend_schema(request=RunCreateSerializer, responses={201: RunSerializer})
    def post(self, request, project_id):
        """Create a run over the records that match, and queue it unless `launch` is false."""
        project = project_for_user(request.user, project_id, role=Role.LEAD)
        serializer = RunCreateSerializer(data=request.data, project=project)
        serializer.is_valid(raise_exception=True)
        run = services.run_create(project=project, user=request.user, **serializer.run_arguments())
        return Response(RunSerializer(run).data, status=status.HTTP_201_CREATED)


class RunDetailApi(APIView):
    @extend_schema(responses=RunSerializer)
    def get(self, request, run_id):
        return Response(RunSerializer(selectors.run_for_user(request.user, run_id)).data)


class RunLaunchApi(APIView):
    @extend_schema(request=None, responses={202: RunSerializer})
    def post(self, request, run_id):
        """Queue a run that was created without launching, or resume a failed, cancelled or stalled one."""
        run = selectors.run_for_user(request.user, run_id, role=Role.LEAD)
        services.run_resume(run=run)
        return Response(RunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class RunCancelApi(APIView):
    @extend_schema(request=None, responses=RunSerializer)
    def post(self, request, run_id):
        run = selectors.run_for_user(request.user, run_id, role=Role.LEAD)
        services.run_cancel(run=run)
        return Response(RunSerializer(run).data)


class OutputListApi(APIView):
    @extend_schema(parameters=[OpenApiParameter("status", str, enum=OutputStatus.values),
                               OpenApiParameter("label", str), OpenApiParameter("q", str)],
                   responses=OutputSerializer(many=True))
    def get(self, request, run_id):
        run = selectors.run_for_user(request.user, run_id)
        params = request.query_params
        status_filter = choice_param(params, "status", ("", *OutputStatus.values), default="")
        outputs = selectors.outputs_filtered(run, status=status_filter, label=params.get("label", ""),
                                             q=params.get("q", ""))
        return paginate(request, self, outputs, OutputSerializer)
