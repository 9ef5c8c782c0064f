"""The API of paraphrase proposals: ask a model for paraphrases of a test case, follow the request, accept or
reject each proposal (apps/review/paraphrases.py)."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.models import Role
from apps.core.api import paginate
from apps.core.limits import RECORD_TEXT_MAX
from apps.llm.models import Model
from apps.llm.selectors import models_for_project

from . import paraphrases, selectors
from .models import ParaphraseProposal, ParaphraseRequest


class ProposalSerializer(serializers.ModelSerializer):
    model = serializers.SerializerMethodField()
    decided_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True,
                                              help_text="The username of the lead who decided it.")

    class Meta:
        model = ParaphraseProposal
        fields = ["id", "request", "test_case", "model", "text", "status", "refusal", "accepted_as", "decided_by",
                  "decided_at", "created_at"]
        extra_kwargs = {"accepted_as": {"help_text": "The test case made of it, once accepted."}}

    def get_model(self, obj) -> int | None:
        """The model that proposed it (null once deleted)."""
        return obj.request.model_id


class ParaphraseRequestSerializer(serializers.ModelSerializer):
    proposals = ProposalSerializer(many=True, read_only=True)

    class Meta:
        model = ParaphraseRequest
        fields = ["id", "test_case", "model", "count", "status", "error", "notices", "proposals", "created_at",
                  "started_at", "finished_at"]


class ParaphraseAskSerializer(serializers.Serializer):
    model = serializers.PrimaryKeyRelatedField(queryset=Model.objects.none(),
                                               help_text="A model of the project (or a shared one).")
    count = serializers.IntegerField(min_value=1, max_value=paraphrases.PARAPHRASES_MAX,
                                     default=paraphrases.PARAPHRASES_DEFAULT)

    def __init__(self, *args, project=None, **kwargs):
        super().__init__(*args, **kwargs)
        if project is not None:  # the schema generator makes one without a project
            self.fields["model"].queryset = models_for_project(project)


class ProposalAcceptSerializer(serializers.Serializer):
    text = serializers.CharField(required=False, max_length=RECORD_TEXT_MAX,
                                 help_text="The text as the lead edited it; absent: the proposed text.")


class ParaphraseListApi(APIView):
    @extend_schema(responses=ProposalSerializer(many=True))
    def get(self, request, case_id):
        """The proposals for a test case, the newest request's first."""
        case = selectors.test_case_for_user(request.user, case_id, role=Role.REVIEWER)
        return paginate(request, self, selectors.proposals_of(case), ProposalSerializer)

    @extend_schema(request=ParaphraseAskSerializer, responses={202: ParaphraseRequestSerializer})
    def post(self, request, case_id):
        """Ask a model for `count` (1–10) paraphrases of the test case: a job; follow it at
        /api/paraphrase-requests/<id>/ until its proposals are there (or its error)."""
        case = selectors.test_case_for_user(request.user, case_id, role=Role.LEAD)
        serializer = ParaphraseAskSerializer(data=request.data, project=case.project)
        serializer.is_valid(raise_exception=True)
        asked = paraphrases.paraphrases_request(case=case, user=request.user, **serializer.validated_data)
        return Response(ParaphraseRequestSerializer(asked).data, status=status.HTTP_202_ACCEPTED)


class ParaphraseRequestApi(APIView):
    @extend_schema(responses=ParaphraseRequestSerializer)
    def get(self, request, request_id):
        """A paraphrase request: its status, then its proposals or its error."""
        return Response(ParaphraseRequestSerializer(selectors.paraphrase_request_for_user(request.user,
                                                                                          request_id)).data)


class ProposalAcceptApi(APIView):
    @extend_schema(request=ProposalAcceptSerializer, responses=ProposalSerializer)
    def post(self, request, proposal_id):
        """Make the proposal a test case beside the original (same expected answer, points and paraphrase
        group); 400 with the reason when it is refused (a training example's text, too long), kept as `refusal`."""
        proposal = selectors.proposal_for_user(request.user, proposal_id)
        serializer = ProposalAcceptSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        proposal = paraphrases.proposal_accept(proposal=proposal, user=request.user,
                                               text=serializer.validated_data.get("text"))
        return Response(ProposalSerializer(proposal).data)


class ProposalRejectApi(APIView):
    @extend_schema(request=None, responses=ProposalSerializer)
    def post(self, request, proposal_id):
        proposal = paraphrases.proposal_reject(proposal=selectors.proposal_for_user(request.user, proposal_id),
                                               user=request.user)
        return Response(ProposalSerializer(proposal).data)
