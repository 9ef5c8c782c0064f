from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.api import paginate
from apps.core.params import int_param

from . import services
from .models import AuditEvent, Membership, Role
from .selectors import audit_events_for, members_of, project_for_user


class MembershipSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username", read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "username", "role", "created_at"]
        read_only_fields = ["id", "username", "created_at"]


class MemberAddSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    email = serializers.EmailField(required=False, allow_blank=True)
    role = serializers.ChoiceField(choices=Role.choices)


class MemberAddedSerializer(MembershipSerializer):
    invite_url = serializers.CharField(read_only=True, allow_null=True)

    class Meta(MembershipSerializer.Meta):
        fields = [*MembershipSerializer.Meta.fields, "invite_url"]


class MemberListApi(APIView):
    @extend_schema(responses=MembershipSerializer(many=True))
    def get(self, request, project_id):
        project = project_for_user(request.user, project_id)
        return paginate(request, self, members_of(project), MembershipSerializer)

    @extend_schema(request=MemberAddSerializer, responses={201: MemberAddedSerializer})
    def post(self, request, project_id):
        project = project_for_user(request.user, project_id, role=Role.ADMIN)
        serializer = MemberAddSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        membership, invite_path = services.membership_add(project=project, **serializer.validated_data)
        membership.invite_url = request.build_absolute_uri(invite_path) if invite_path else None
        return Response(MemberAddedSerializer(membership).data, status=status.HTTP_201_CREATED)


class MemberDetailApi(APIView):
    def _membership(self, request, project_id, membership_id, role=Role.REVIEWER):
        project = project_for_user(request.user, project_id, role=role)
        return get_object_or_404(Membership.objects.select_related("user"), id=membership_id, project=project)

    @extend_schema(responses=MembershipSerializer)
    def get(self, request, project_id, membership_id):
        return Response(MembershipSerializer(self._membership(request, project_id, membership_id)).data)

    @extend_schema(request=MembershipSerializer, responses=MembershipSerializer)
    def patch(self, request, project_id, membership_id):
        membership = self._membership(request, project_id, membership_id, role=Role.ADMIN)
        serializer = MembershipSerializer(membership, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        role = serializer.validated_data.get("role", membership.role)
        membership = services.membership_set_role(membership=membership, role=role)
        return Response(MembershipSerializer(membership).data)

    @extend_schema(responses={204: None})
    def delete(self, request, project_id, membership_id):
        services.membership_remove(membership=self._membership(request, project_id, membership_id, role=Role.ADMIN))
        return Response(status=status.HTTP_204_NO_CONTENT)


class AuditEventSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor.username", read_only=True, allow_null=True, default=None)

    class Meta:
        model = AuditEvent
        fields = ["id", "at", "actor", "project", "action", "target", "details"]


class AuditListApi(APIView):
    @extend_schema(parameters=[OpenApiParameter("project", int), OpenApiParameter("actor", int)],
                   responses=AuditEventSerializer(many=True))
    def get(self, request):
        """The audit log, newest first: site admins see every event, project admins their projects' events."""
        events = audit_events_for(request.user, project_id=int_param(request.query_params, "project"),
                                  actor_id=int_param(request.query_params, "actor"))
        return paginate(request, self, events, AuditEventSerializer)
