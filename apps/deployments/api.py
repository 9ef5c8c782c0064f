"""The members' API for deployments (token or session auth, roles as on the pages). The endpoints applications
call with a deployment key are in `endpoints.py`."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.models import Role
from apps.accounts.selectors import project_for_user
from apps.core.api import paginate
from apps.llm.models import Model
from apps.llm.selectors import models_for_project
from apps.prompts.models import PromptVersion
from apps.prompts.selectors import versions_in_project

from . import analytics, selectors, services
from .models import Deployment, Promotion, Trace


class PromotionSerializer(serializers.ModelSerializer):
    class Meta:
        model = Promotion
        fields = ["id", "model", "prompt_version", "eval_run", "reason", "override_reason", "rollback_of",
                  "promoted_by", "created_at"]


class DeploymentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Deployment
        fields = ["id", "slug", "description", "model", "prompt_version", "current_promotion", "shadow_model",
                  "shadow_prompt_version", "shadow_share", "sample_share", "sample_negative_feedback",
                  "sample_invalid", "sample_shadow_disagreement", "sample_low_confidence", "traffic_dataset",
                  "created_at"]
        read_only_fields = fields


class DeploymentDetailSerializer(DeploymentSerializer):
    promotions = serializers.SerializerMethodField()
    candidate_evals = serializers.SerializerMethodField()
    lost_traces = serializers.SerializerMethodField()

    class Meta(DeploymentSerializer.Meta):
        fields = [*DeploymentSerializer.Meta.fields, "promotions", "candidate_evals", "lost_traces"]

    def get_promotions(self, obj) -> list[dict]:
        return PromotionSerializer(selectors.promotions_of(obj)[:50], many=True).data

    def get_candidate_evals(self, obj) -> list[dict]:
        return [{"eval_run": e.id, "model": e.model_id, "prompt_version": e.prompt_version_id,
                 "gate_passed": e.gate_passed, "finished_at": e.finished_at} for e in selectors.candidate_evals(obj)]

    def get_lost_traces(self, obj) -> int:
        return selectors.lost_traces(obj)


class DeploymentCreateSerializer(serializers.Serializer):
    slug = serializers.SlugField(max_length=80)
    description = serializers.CharField(max_length=300, required=False, default="", allow_blank=True)


class PromoteSerializer(serializers.Serializer):
    model = serializers.PrimaryKeyRelatedField(queryset=Model.objects.none())
    prompt_version = serializers.PrimaryKeyRelatedField(queryset=PromptVersion.objects.none())
    reason = serializers.CharField()
    override_reason = serializers.CharField(required=False, default="", allow_blank=True)

    def __init__(self, *args, project=None, **kwargs):
        super().__init__(*args, **kwargs)
        if project is not None:
            self.fields["model"].queryset = models_for_project(project)
            self.fields["prompt_version"].queryset = versions_in_project(project)


class RollbackSerializer(serializers.Serializer):
    promotion = serializers.IntegerField()
    reason = serializers.CharField(required=False, default="", allow_blank=True)


class TraceSerializer(serializers.ModelSerializer):
    class Meta:
        model = Trace
        fields = ["id", "created_at", "endpoint", "status", "valid", "text", "messages", "answer", "raw_text",
                  "problems", "error", "latency_ms", "input_tokens", "output_tokens", "confidence", "categories",
                  "model", "prompt_version", "shadow_model", "shadow_answer", "shadow_agrees", "metadata",
                  "sampled_reason", "review_output_id"]


class DeploymentListApi(APIView):
    @extend_schema(responses=DeploymentSerializer(many=True))
    def get(self, request, project_id):
        project = project_for_user(request.user, project_id)
        return paginate(request, self, selectors.deployments_of(project), DeploymentSerializer)

    @extend_schema(request=DeploymentCreateSerializer, responses={201: DeploymentSerializer})
    def post(self, request, project_id):
        project = project_for_user(request.user, project_id, role=Role.LEAD)
        serializer = DeploymentCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        deployment = services.deployment_create(project=project, user=request.user, **serializer.validated_data)
        return Response(DeploymentSerializer(deployment).data, status=status.HTTP_201_CREATED)


class DeploymentDetailApi(APIView):
    @extend_schema(responses=DeploymentDetailSerializer)
    def get(self, request, deployment_id):
        """What it serves, the promotion history, the gate of every candidate eval since, lost traces."""
        return Response(DeploymentDetailSerializer(selectors.deployment_for_user(request.user, deployment_id)).data)


class DeploymentPromoteApi(APIView):
    @extend_schema(request=PromoteSerializer, responses={201: PromotionSerializer})
    def post(self, request, deployment_id):
        """Promote a model and prompt version whose finished eval passed its gate (admins: or with a reason)."""
        deployment = selectors.deployment_for_user(request.user, deployment_id, role=Role.LEAD)
        serializer = PromoteSerializer(data=request.data, project=deployment.project)
        serializer.is_valid(raise_exception=True)
        promotion = services.promotion_create(deployment=deployment, user=request.user, **serializer.validated_data)
        return Response(PromotionSerializer(promotion).data, status=status.HTTP_201_CREATED)


class DeploymentRollbackApi(APIView):
    @extend_schema(request=RollbackSerializer, responses={201: PromotionSerializer})
    def post(self, request, deployment_id):
        deployment = selectors.deployment_for_user(request.user, deployment_id, role=Role.LEAD)
        serializer = RollbackSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        target = selectors.promotion_of(deployment, serializer.validated_data["promotion"])
        promotion = services.promotion_rollback(deployment=deployment, to=target, user=request.user,
                                                reason=serializer.validated_data["reason"])
        return Response(PromotionSerializer(promotion).data, status=status.HTTP_201_CREATED)


class TraceListApi(APIView):
    @extend_schema(responses=TraceSerializer(many=True))
    def get(self, request, deployment_id):
        """Newest first; `status`, `label` and `q` filter as on the traces page."""
        deployment = selectors.deployment_for_user(request.user, deployment_id)
        filters = selectors.TraceFilters(q=request.query_params.get("q", ""),
                                         status=request.query_params.get("status", ""),
                                         label=request.query_params.get("label", ""))
        return paginate(request, self, selectors.traces_filtered(deployment, filters), TraceSerializer)


class TrafficApi(APIView):
    @extend_schema(responses=dict)
    def get(self, request, deployment_id):
        """Per day: calls, valid share, error rate, latency p50/p95, tokens, feedback; and the drift figure."""
        deployment = selectors.deployment_for_user(request.user, deployment_id)
        drift = analytics.drift(deployment)
        days = analytics.daily(deployment)
        return Response({
            "days": [{name: getattr(day, name) for name in analytics.DAY_FIELDS} for day in days],
            "drift": {"psi": drift.psi, "threshold": drift.threshold, "drifted": drift.drifted, "rows": drift.rows},
            "shadow_agreement": analytics.shadow_agreement(deployment),
            "reviewed": analytics.reviewed_pass_rates(deployment),
        })
