from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.models import Role
from apps.evals.api import EvalRunSerializer
from apps.llm.models import Model
from apps.llm.selectors import models_for_project
from apps.prompts.models import PromptVersion
from apps.prompts.selectors import versions_in_project

from . import schedules, selectors


class CandidateEvalSerializer(serializers.Serializer):
    model = serializers.PrimaryKeyRelatedField(queryset=Model.objects.none(), required=False, allow_null=True)
    prompt_version = serializers.PrimaryKeyRelatedField(queryset=PromptVersion.objects.none(), required=False,
                                                        allow_null=True)
    repeats = serializers.IntegerField(min_value=1, max_value=20, default=3)

    def __init__(self, *args, project=None, **kwargs):
        super().__init__(*args, **kwargs)
        if project is not None:
            self.fields["model"].queryset = models_for_project(project)
            self.fields["prompt_version"].queryset = versions_in_project(project)


class CandidateEvalApi(APIView):
    @extend_schema(request=CandidateEvalSerializer, responses={201: EvalRunSerializer})
    def post(self, request, deployment_id):
        """Evaluate a candidate (default: the deployment's shadow) against the eval of what it serves."""
        deployment = selectors.deployment_for_user(request.user, deployment_id, role=Role.LEAD)
        serializer = CandidateEvalSerializer(data=request.data, project=deployment.project)
        serializer.is_valid(raise_exception=True)
        eval_run = schedules.candidate_eval_launch(deployment=deployment, user=request.user,
                                                   **serializer.validated_data)
        return Response(EvalRunSerializer(eval_run).data, status=status.HTTP_201_CREATED)
