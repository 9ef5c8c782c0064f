from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.models import Role
from apps.accounts.selectors import project_for_user
from apps.core.api import paginate
from apps.core.limits import LONG_TEXT_MAX

from . import selectors, services
from .models import PromptStyle, PromptTemplate, PromptVersion
from .rendering import render_messages, schema_for


class PromptVersionSerializer(serializers.ModelSerializer):
    class Meta:
        model = PromptVersion
        fields = ["id", "number", "style", "system", "user_template", "examples", "note", "created_at"]
        read_only_fields = ["id", "number", "created_at"]


class PromptTemplateSerializer(serializers.ModelSerializer):
    latest_version = serializers.SerializerMethodField()

    class Meta:
        model = PromptTemplate
        fields = ["id", "name", "purpose", "description", "latest_version", "created_at"]
        read_only_fields = ["purpose"]

    def get_latest_version(self, obj) -> PromptVersionSerializer:
        version = selectors.latest_version(obj)
        return PromptVersionSerializer(version).data if version else None


class PromptCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, max_length=LONG_TEXT_MAX)
    style = serializers.ChoiceField(choices=PromptStyle.choices, default=PromptStyle.PLAIN)
    system = serializers.CharField(required=False, allow_blank=True, default="", max_length=LONG_TEXT_MAX)
    user_template = serializers.CharField(default="{text}", max_length=LONG_TEXT_MAX)
    examples = serializers.ListField(child=serializers.DictField(), required=False, default=list)
    note = serializers.CharField(required=False, allow_blank=True, default="")


class PromptListApi(APIView):
    @extend_schema(responses=PromptTemplateSerializer(many=True))
    def get(self, request, project_id):
        project = project_for_user(request.user, project_id)
        return paginate(request, self, selectors.prompts_of(project), PromptTemplateSerializer)

    @extend_schema(request=PromptCreateSerializer, responses={201: PromptTemplateSerializer})
    def post(self, request, project_id):
        project = project_for_user(request.user, project_id, role=Role.LEAD)
        serializer = PromptCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        template = services.prompt_create(project=project, user=request.user, **serializer.validated_data)
        return Response(PromptTemplateSerializer(template).data, status=status.HTTP_201_CREATED)


class PromptDetailApi(APIView):
    @extend_schema(responses=PromptTemplateSerializer)
    def get(self, request, template_id):
        return Response(PromptTemplateSerializer(selectors.prompt_for_user(request.user, template_id)).data)


class PromptVersionListApi(APIView):
    @extend_schema(responses=PromptVersionSerializer(many=True))
    def get(self, request, template_id):
        template = selectors.prompt_for_user(request.user, template_id)
        return paginate(request, self, template.versions.all(), PromptVersionSerializer)

    @extend_schema(request=PromptVersionSerializer, responses={201: PromptVersionSerializer})
    def post(self, request, template_id):
        """Save a new version (versions are never edited)."""
        template = selectors.prompt_for_user(request.user, template_id, role=Role.LEAD)
        serializer = PromptVersionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        version = services.prompt_version_create(template=template, user=request.user, **serializer.validated_data)
        return Response(PromptVersionSerializer(version).data, status=status.HTTP_201_CREATED)


class VersionPreviewApi(APIView):
    @extend_schema(parameters=[OpenApiParameter("record", int, description="A record of the project (default: its "
                                                "first)"), OpenApiParameter("text", str, description="Or any text")],
                   responses=inline_serializer("PromptPreview", {
                       "record": serializers.IntegerField(allow_null=True), "messages": serializers.ListField(),
                       "schema": serializers.JSONField()}))
    def get(self, request, version_id):
        """The exact messages a record (or a text) would be sent with, and the answer schema."""
        version = selectors.version_for_user(request.user, version_id)
        project = version.template.project
        record = selectors.preview_record(project, request.query_params.get("record"))
        text = request.query_params.get("text") or (record.text if record else "")
        return Response({"record": record.id if record and not request.query_params.get("text") else None,
                         "messages": render_messages(project, version, text), "schema": schema_for(project, version)})
