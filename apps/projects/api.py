from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.models import Role
from apps.accounts.selectors import can_create_projects, project_for_user, projects_for_user
from apps.core.api import paginate
from apps.core.limits import LONG_TEXT_MAX

from . import services
from .models import MAX_TERM_LENGTH, MAX_TERMS, Project


class GlossaryEntrySerializer(serializers.Serializer):
    term = serializers.CharField(max_length=MAX_TERM_LENGTH)
    definition = serializers.CharField(max_length=LONG_TEXT_MAX)


class ProjectSerializer(serializers.ModelSerializer):
    labels = serializers.ListField(child=serializers.CharField(max_length=MAX_TERM_LENGTH), max_length=MAX_TERMS,
                                   required=False)
    entity_types = serializers.ListField(child=serializers.CharField(max_length=MAX_TERM_LENGTH),
                                         max_length=MAX_TERMS, required=False)
    glossary = GlossaryEntrySerializer(many=True, required=False)

    class Meta:
        model = Project
        fields = ["id", "name", "task_kind", "labels", "entity_types", "guidelines", "glossary", "pass_threshold",
                  "f1_threshold", "judge_rubric", "judge_min_kappa", "judge_min_answers",
                  "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]


class ProjectListApi(APIView):
    @extend_schema(responses=ProjectSerializer(many=True))
    def get(self, request):
        return paginate(request, self, projects_for_user(request.user).order_by("name"), ProjectSerializer)

    @extend_schema(request=ProjectSerializer, responses={201: ProjectSerializer})
    def post(self, request):
        if not can_create_projects(request.user):
            raise PermissionDenied("Only site admins can create projects (and leads, where the site allows it).")
        serializer = ProjectSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        project = services.project_create(user=request.user, **serializer.validated_data)
        return Response(ProjectSerializer(project).data, status=status.HTTP_201_CREATED)


class ProjectDetailApi(APIView):
    @extend_schema(responses=ProjectSerializer)
    def get(self, request, project_id):
        return Response(ProjectSerializer(project_for_user(request.user, project_id)).data)

    @extend_schema(request=ProjectSerializer, responses=ProjectSerializer)
    def patch(self, request, project_id):
        project = project_for_user(request.user, project_id, role=Role.LEAD)
        serializer = ProjectSerializer(project, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        project = services.project_update(project=project, **serializer.validated_data)
        return Response(ProjectSerializer(project).data)

    @extend_schema(responses={204: None})
    def delete(self, request, project_id):
        services.project_delete(project=project_for_user(request.user, project_id, role=Role.ADMIN))
        return Response(status=status.HTTP_204_NO_CONTENT)
