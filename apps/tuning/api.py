from django.http import FileResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.models import Role
from apps.accounts.selectors import project_for_user
from apps.core.api import paginate
from apps.core.exceptions import ApplicationError
from apps.core.params import MAX_ID
from apps.llm.selectors import models_for_project

from . import selectors, services
from .models import Backend, ExportFormat, FineTuneJob, ModelExport


class JobSerializer(serializers.ModelSerializer):
    progress_percent = serializers.IntegerField(source="percent", read_only=True)

    class Meta:
        model = FineTuneJob
        fields = ["id", "base_model", "backend", "hyperparameters", "status", "step", "total_steps",
                  "progress_percent", "metrics", "events", "training_file_sha256", "example_count",
                  "validation_count", "token_estimate", "external_job_id", "result_model", "error", "created_at",
                  "started_at", "finished_at"]


def _hyperparameter_field(name: str) -> serializers.Field:
    kind, *allowed = services.BOUNDS[name]
    if kind is bool:
        return serializers.BooleanField(required=False)
    if kind is str:
        return serializers.ChoiceField(choices=allowed, required=False)
    field = serializers.IntegerField if kind is int else serializers.FloatField
    return field(min_value=allowed[0], max_value=allowed[1], required=False)


class HyperparametersSerializer(serializers.Serializer):
    """Documents the names and bounds; services.hyperparameters_clean checks them (for the form too)."""

    locals().update({name: _hyperparameter_field(name) for name in services.BOUNDS})

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError("An object of hyperparameters.")
        try:
            return services.hyperparameters_clean(data)
        except ApplicationError as exc:
            raise serializers.ValidationError(exc.problems) from None


class LaunchSerializer(serializers.Serializer):
    base_model = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    backend = serializers.ChoiceField(choices=Backend.choices)
    points = serializers.ListField(child=serializers.IntegerField(min_value=1, max_value=MAX_ID), required=False,
                                   default=list, max_length=1000)
    hyperparameters = HyperparametersSerializer(required=False, default=dict)


class JobListApi(APIView):
    @extend_schema(responses=JobSerializer(many=True))
    def get(self, request, project_id):
        project = project_for_user(request.user, project_id)
        return paginate(request, self, selectors.jobs_of(project), JobSerializer)

    @extend_schema(request=LaunchSerializer, responses={201: JobSerializer})
    def post(self, request, project_id):
        """Check and freeze the training file, then queue the job (400 lists every problem)."""
        project = project_for_user(request.user, project_id, role=Role.LEAD)
        serializer = LaunchSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        base = models_for_project(project).filter(id=data["base_model"]).first()
        if base is None:
            raise serializers.ValidationError({"base_model": "No such model in this project."})
        points = list(project.training_points.filter(id__in=data["points"]))
        unknown = sorted(set(data["points"]) - {point.id for point in points})
        if unknown:
            raise serializers.ValidationError({"points": f"No such training points in this project: {unknown}."})
        job = services.finetune_launch(project=project, base_model=base, backend=data["backend"], points=points,
                                       hyperparameters=data["hyperparameters"], user=request.user)
        return Response(JobSerializer(job).data, status=status.HTTP_201_CREATED)


class JobDetailApi(APIView):
    @extend_schema(responses=JobSerializer)
    def get(self, request, job_id):
        return Response(JobSerializer(selectors.job_for_user(request.user, job_id)).data)


class JobCancelApi(APIView):
    @extend_schema(request=None, responses=JobSerializer)
    def post(self, request, job_id):
        job = selectors.job_for_user(request.user, job_id, role=Role.LEAD)
        services.finetune_cancel(job=job)
        return Response(JobSerializer(job).data)


class ExportSerializer(serializers.ModelSerializer):
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = ModelExport
        fields = ["id", "finetune_job", "format", "status", "progress", "error", "size_bytes", "seconds",
                  "download_url", "created_at", "started_at", "finished_at"]

    def get_download_url(self, export) -> str | None:
        if export.status != "SUCCEEDED" or not export.archive:
            return None
        return reverse("api-model-export-download", kwargs={"export_id": export.id})


class ExportCreateSerializer(serializers.Serializer):
    format = serializers.ChoiceField(choices=ExportFormat.choices)


class ExportListApi(APIView):
    @extend_schema(responses=ExportSerializer(many=True))
    def get(self, request, job_id):
        job = selectors.job_for_user(request.user, job_id)
        return paginate(request, self, selectors.exports_of(job), ExportSerializer)

    @extend_schema(request=ExportCreateSerializer, responses={202: ExportSerializer})
    def post(self, request, job_id):
        """Queue an export of the fine-tuned model (400 says why there is nothing to export)."""
        from .exports import export_create

        job = selectors.job_for_user(request.user, job_id, role=Role.LEAD)
        serializer = ExportCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        export = export_create(job=job, export_format=serializer.validated_data["format"], user=request.user)
        return Response(ExportSerializer(export).data, status=status.HTTP_202_ACCEPTED)


class ExportDetailApi(APIView):
    @extend_schema(responses=ExportSerializer)
    def get(self, request, export_id):
        return Response(ExportSerializer(selectors.export_for_user(request.user, export_id, role=Role.REVIEWER)).data)


class ExportDownloadApi(APIView):
    @extend_schema(responses={(200, "application/gzip"): OpenApiTypes.BINARY})
    def get(self, request, export_id):
        export = selectors.export_for_user(request.user, export_id)
        if export.status != "SUCCEEDED" or not export.archive:
            raise NotFound("This export has no archive yet.")
        return FileResponse(export.archive.open("rb"), as_attachment=True,
                            filename=export.archive.name.rsplit("/", 1)[-1])
