from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.models import Role
from apps.accounts.selectors import project_for_user
from apps.core.api import paginate

from . import services
from .models import Model, Provider
from .selectors import (
    model_for_user,
    models_folder_listing,
    models_for_project,
    probe_request,
    project_for_site_admin,
)


class ModelSerializer(serializers.ModelSerializer):
    """The API key can be written, never read: responses carry only `api_key_hint`."""

    api_key = serializers.CharField(write_only=True, required=False, allow_blank=True)
    api_key_hint = serializers.CharField(read_only=True)
    shared = serializers.SerializerMethodField()

    class Meta:
        model = Model
        fields = ["id", "name", "provider", "base_url", "model_id", "api_key", "api_key_hint", "structured_output",
                  "temperature", "max_tokens", "max_concurrency", "timeout_seconds", "max_retries",
                  "input_price_per_million", "output_price_per_million", "parent", "adapter", "local_path", "shared",
                  "created_at"]
        # Left out, concurrency, timeout and retries get the defaults for the kind of server (hosted or not).
        extra_kwargs = {"max_concurrency": {"required": False, "allow_null": True},
                        "timeout_seconds": {"required": False, "allow_null": True},
                        "max_retries": {"required": False, "allow_null": True}}
        read_only_fields = ["id", "parent", "adapter", "local_path", "created_at"]

    def get_shared(self, obj) -> bool:
        return obj.project_id is None


ProbeMethodSerializer = inline_serializer("ProbeMethodResult", many=True, fields={
    "method": serializers.CharField(), "outcome": serializers.CharField(), "detail": serializers.CharField(),
    "latency_ms": serializers.IntegerField(), "text": serializers.CharField(),
})
ProbeSerializer = inline_serializer("ModelProbe", allow_null=True, fields={
    "base_url": serializers.CharField(), "reachable": serializers.BooleanField(), "error": serializers.CharField(),
    "summary": serializers.CharField(), "recommended": serializers.CharField(),
    "seconds_per_answer": serializers.FloatField(allow_null=True),
    "model_ids": serializers.ListField(child=serializers.CharField()),
    "results": ProbeMethodSerializer,
})
TestResultSerializer = inline_serializer("ModelTestResult", {
    "ok": serializers.BooleanField(), "text": serializers.CharField(), "error": serializers.CharField(),
    "latency_ms": serializers.IntegerField(), "probe": ProbeSerializer,
})


class ModelListApi(APIView):
    @extend_schema(responses=ModelSerializer(many=True))
    def get(self, request, project_id):
        project = project_for_user(request.user, project_id)
        return paginate(request, self, models_for_project(project), ModelSerializer)

    @extend_schema(request=ModelSerializer, responses={201: ModelSerializer})
    def post(self, request, project_id):
        project = project_for_user(request.user, project_id, role=Role.LEAD)
        serializer = ModelSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        model = services.model_create(project=project, user=request.user, **serializer.validated_data)
        return Response(ModelSerializer(model).data, status=status.HTTP_201_CREATED)


class ModelDetailApi(APIView):
    @extend_schema(responses=ModelSerializer)
    def get(self, request, project_id, model_id):
        project = project_for_user(request.user, project_id)
        return Response(ModelSerializer(model_for_user(request.user, model_id, project=project)).data)

    @extend_schema(request=ModelSerializer, responses=ModelSerializer)
    def patch(self, request, project_id, model_id):
        project = project_for_user(request.user, project_id)
        model = model_for_user(request.user, model_id, project=project, role=Role.LEAD)
        serializer = ModelSerializer(model, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        return Response(ModelSerializer(services.model_update(model=model, **serializer.validated_data)).data)

    @extend_schema(responses={204: None})
    def delete(self, request, project_id, model_id):
        project = project_for_user(request.user, project_id)
        services.model_delete(model=model_for_user(request.user, model_id, project=project, role=Role.LEAD))
        return Response(status=status.HTTP_204_NO_CONTENT)


class ModelTestApi(APIView):
    @extend_schema(request=None, responses=TestResultSerializer)
    def post(self, request, project_id, model_id):
        """Probe the model's server: each way of asking for structured output, with the project's answer schema.

        `probe.recommended` is the method that worked; PATCH the model's `structured_output` to save it.
        The bundled model is only checked for its weights (`probe` is null)."""
        project = project_for_user(request.user, project_id)
        model = model_for_user(request.user, model_id, project=project, role=Role.LEAD)
        if model.provider == Provider.LOCAL:
            result = services.model_test_connection(model=model)
            return Response({"ok": not result.error, "text": result.text, "error": result.error,
                             "latency_ms": result.latency_ms, "probe": None})
        messages, schema = probe_request(project)
        report = services.model_probe(model=model, messages=messages, schema=schema)
        seconds = report.seconds_per_answer
        return Response({"ok": report.reachable and not report.error and bool(report.recommended),
                         "text": report.summary, "error": report.error,
                         "latency_ms": round(seconds * 1000) if seconds is not None else 0,
                         "probe": report.as_dict()})


FolderEntrySerializer = inline_serializer("ModelsFolderEntry", many=True, fields={
    "path": serializers.CharField(), "kind": serializers.CharField(), "architecture": serializers.CharField(),
    "model_type": serializers.CharField(), "parameters": serializers.IntegerField(),
    "context_length": serializers.IntegerField(allow_null=True), "chat_template": serializers.BooleanField(),
    "bytes_fp32": serializers.IntegerField(), "bytes_bf16": serializers.IntegerField(),
    "usable": serializers.BooleanField(), "problems": serializers.ListField(child=serializers.CharField()),
    "registered_model": serializers.IntegerField(allow_null=True),
})


class RegisterSerializer(serializers.Serializer):
    path = serializers.CharField(max_length=500, help_text="A folder or .gguf file in the models folder.")
    name = serializers.CharField(required=False, allow_blank=True, max_length=200)


class ModelsFolderApi(APIView):
    """Site admins: the models in TASKLLM_MODELS_DIR, and registering one as a shared local model."""

    answers_whole_list = True  # the folder's listing is one short list, answered whole (and documented so)

    @extend_schema(responses=FolderEntrySerializer)
    def get(self, request, project_id):
        project_for_site_admin(request.user, project_id)
        entries = [{**{k: v for k, v in entry.items() if k != "registered"},
                    "registered_model": entry["registered"].id if entry["registered"] else None}
                   for entry in models_folder_listing()]
        return Response(entries)

    @extend_schema(request=RegisterSerializer, responses={201: ModelSerializer})
    def post(self, request, project_id):
        """Refused (400, with `problems`) when transformers could not load the model or it has no chat template."""
        project_for_site_admin(request.user, project_id)
        serializer = RegisterSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        model = services.local_model_register(user=request.user, **serializer.validated_data)
        return Response(ModelSerializer(model).data, status=status.HTTP_201_CREATED)
