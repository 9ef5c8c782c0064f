from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.models import Role
from apps.accounts.selectors import project_for_user
from apps.core.api import paginate
from apps.core.exceptions import ApplicationError
from apps.core.params import MAX_ID
from apps.llm.selectors import models_for_project

from . import selectors, services
from .models import Backend, FineTuneJob


class JobSerializer(serializers.ModelSerializer):
    progress_percent = serializers.IntegerField(source="percent", read_only=True)

    class Meta:
        model = FineTuneJob
        fields = ["id", "base_model", "backend", "hyperparameters", "status", "step", "total_steps",
                  "progress_percent", "metrics", "events", "training_file_sha256", "example_count",
                  "validation_count", "token_estimate", "external_job_id", "result_model", "error", "created_at",
                  "started_at", "finished_at"]


class HyperparametersSerializer(serializers.Serializer):
    """Documents the names and bounds; services.hyperparameters_clean checks them (for the form too)."""

    locals().update({
        name: (serializers.IntegerField if kind is int else serializers.FloatField)(
            min_value=low, max_value=high, required=False)
        for name, (kind, low, high) in services.BOUNDS.items()})

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
