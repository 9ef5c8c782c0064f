from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.models import Role
from apps.accounts.selectors import project_for_user
from apps.core.api import paginate
from apps.core.exceptions import ApplicationError
from apps.core.jobs import job_progress
from apps.core.limits import COMMENT_MAX
from apps.core.models import JobStatus
from apps.core.params import MAX_ID, int_param
from apps.runs.selectors import run_for_user

from . import selectors, services
from .models import Grade, TestCase, TestCaseImport, TrainingExample, TrainingPoint, Verdict
from .queue import queue_take


class PointSerializer(serializers.ModelSerializer):
    class Meta:
        model = TrainingPoint
        fields = ["id", "name", "description", "status", "created_at"]
        read_only_fields = ["id", "created_at"]


class GradeSerializer(serializers.ModelSerializer):
    points = serializers.SlugRelatedField(slug_field="name", many=True, read_only=True)
    reviewer = serializers.CharField(source="reviewer.username", read_only=True)

    class Meta:
        model = Grade
        fields = ["id", "output", "reviewer", "verdict", "corrected_answer", "points", "comment", "seconds_spent",
                  "created_at", "updated_at"]


class GradeSubmitSerializer(serializers.Serializer):
    output = serializers.IntegerField()
    verdict = serializers.ChoiceField(choices=Verdict.choices, required=False)
    corrected_answer = serializers.JSONField(required=False)
    points = serializers.ListField(child=serializers.CharField(), required=False, default=list,
                                   help_text="Training point names; new names create points.")
    comment = serializers.CharField(required=False, allow_blank=True, default="", max_length=COMMENT_MAX)
    seconds_spent = serializers.FloatField(required=False, default=0)
    make_test_case = serializers.BooleanField(required=False, default=False)
    keep_as_example = serializers.BooleanField(
        required=False, default=False, help_text="With a pass: keep the model's answer as a training example.")


class GradeResultSerializer(GradeSerializer):
    notes = serializers.ListField(child=serializers.CharField(), read_only=True)
    refused = serializers.ListField(child=serializers.CharField(), read_only=True,
                                    help_text="What the grade could not make (the leakage guard), and why.")

    class Meta(GradeSerializer.Meta):
        fields = [*GradeSerializer.Meta.fields, "notes", "refused"]


class ExampleSerializer(serializers.ModelSerializer):
    points = serializers.SlugRelatedField(slug_field="name", many=True, read_only=True)

    class Meta:
        model = TrainingExample
        fields = ["id", "text", "messages", "answer", "points", "record", "created_at"]


class ExampleWriteSerializer(serializers.Serializer):
    prompt_version = serializers.IntegerField(help_text="The prompt version whose messages the example uses.")
    text = serializers.CharField()
    answer = serializers.JSONField()
    points = serializers.ListField(child=serializers.CharField(), required=False, default=list)


class TestCaseSerializer(serializers.ModelSerializer):
    points = serializers.ListField(child=serializers.CharField(), write_only=True, required=False, default=list)
    point_names = serializers.SerializerMethodField()

    class Meta:
        model = TestCase
        fields = ["id", "text", "expected", "paraphrase_group", "points", "point_names", "record", "created_at"]
        read_only_fields = ["id", "record", "created_at"]

    def get_point_names(self, obj) -> list[str]:
        return [p.name for p in obj.points.all()]


NextSerializer = inline_serializer("ReviewNext", {
    "output": serializers.IntegerField(allow_null=True), "text": serializers.CharField(),
    "answer": serializers.JSONField(), "expected": serializers.JSONField(allow_null=True)})


class PointListApi(APIView):
    @extend_schema(responses=PointSerializer(many=True))
    def get(self, request, project_id):
        project = project_for_user(request.user, project_id)
        return paginate(request, self, project.training_points.all(), PointSerializer)

    @extend_schema(request=PointSerializer, responses={201: PointSerializer})
    def post(self, request, project_id):
        project = project_for_user(request.user, project_id)
        serializer = PointSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        point = services.point_create(project=project, user=request.user, name=serializer.validated_data["name"],
                                      description=serializer.validated_data.get("description", ""))
        return Response(PointSerializer(point).data, status=status.HTTP_201_CREATED)


class PointDetailApi(APIView):
    @extend_schema(responses=PointSerializer)
    def get(self, request, point_id):
        return Response(PointSerializer(selectors.point_for_user(request.user, point_id)).data)

    @extend_schema(request=PointSerializer, responses=PointSerializer)
    def patch(self, request, point_id):
        point = selectors.point_for_user(request.user, point_id, role=Role.LEAD)
        serializer = PointSerializer(point, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        return Response(PointSerializer(services.point_update(point=point, **serializer.validated_data)).data)


class MergeSerializer(serializers.Serializer):
    into = serializers.IntegerField(min_value=1, max_value=MAX_ID)


class PointMergeApi(APIView):
    @extend_schema(request=MergeSerializer, responses=PointSerializer)
    def post(self, request, point_id):
        """Move everything of this point to the point `into`, then delete this one."""
        point = selectors.point_for_user(request.user, point_id, role=Role.LEAD)
        into = MergeSerializer(data=request.data)
        into.is_valid(raise_exception=True)
        target = selectors.point_for_user(request.user, into.validated_data["into"], role=Role.LEAD)
        return Response(PointSerializer(services.point_merge(source=point, target=target)).data)


class GradeListApi(APIView):
    @extend_schema(responses=GradeSerializer(many=True))
    def get(self, request, run_id):
        run = run_for_user(request.user, run_id)
        grades = Grade.objects.filter(output__run=run).select_related("reviewer").prefetch_related("points")
        return paginate(request, self, grades.order_by("id"), GradeSerializer)

    @extend_schema(request=GradeSubmitSerializer, responses={201: GradeResultSerializer})
    def post(self, request, run_id):
        """Grade an output of the run (your earlier grade of it is replaced; other reviewers' stay).

        The grade is saved even when the training example or test case it asks for is not: `refused` lists what
        the leakage guard turned down and why (empty when nothing was).
        """
        run = run_for_user(request.user, run_id)
        serializer = GradeSubmitSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        output = selectors.output_in_run(run, data.pop("output"))
        result = services.grade_submit(output=output, reviewer=request.user, point_names=data.pop("points"),
                                       **data)
        body = {**GradeSerializer(result.grade).data, "notes": result.notes, "refused": result.refused}
        return Response(body, status=status.HTTP_201_CREATED)


class ReviewNextApi(APIView):
    @extend_schema(parameters=[OpenApiParameter("after", int)], responses=NextSerializer)
    def get(self, request, run_id):
        """The next output of the run waiting for your grade (null when there is none)."""
        run = run_for_user(request.user, run_id)
        output = queue_take(run=run, reviewer=request.user, after_id=int_param(request.query_params, "after", 0))
        if output is None:
            return Response({"output": None, "text": "", "answer": None, "expected": None})
        return Response({"output": output.id, "text": output.record.text, "answer": output.answer,
                         "expected": selectors.expected_of(run.project, output.record)})


class ExampleListApi(APIView):
    @extend_schema(parameters=[OpenApiParameter("point", int)], responses=ExampleSerializer(many=True))
    def get(self, request, project_id):
        project = project_for_user(request.user, project_id)
        examples = project.training_examples.prefetch_related("points").order_by("id")
        point_id = int_param(request.query_params, "point")
        if point_id is not None:
            examples = examples.filter(points=point_id)
        return paginate(request, self, examples, ExampleSerializer)

    @extend_schema(request=ExampleWriteSerializer, responses={201: ExampleSerializer})
    def post(self, request, project_id):
        """Write a training example by hand."""
        from apps.prompts.selectors import versions_in_project

        project = project_for_user(request.user, project_id, role=Role.LEAD)
        serializer = ExampleWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        version = versions_in_project(project).filter(id=data["prompt_version"]).first()
        if version is None or not isinstance(data["answer"], dict):
            raise serializers.ValidationError("Give a prompt version of this project and an answer object.")
        example = services.training_example_write(project=project, version=version, text=data["text"],
                                                  answer=data["answer"], point_names=data["points"],
                                                  user=request.user)
        return Response(ExampleSerializer(example).data, status=status.HTTP_201_CREATED)


class TestCaseListApi(APIView):
    @extend_schema(responses=TestCaseSerializer(many=True))
    def get(self, request, project_id):
        project = project_for_user(request.user, project_id)
        return paginate(request, self, project.test_cases.prefetch_related("points").order_by("id"),
                        TestCaseSerializer)

    @extend_schema(request=TestCaseSerializer, responses={201: TestCaseSerializer})
    def post(self, request, project_id):
        project = project_for_user(request.user, project_id, role=Role.LEAD)
        serializer = TestCaseSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        points = services.points_by_names(project=project, names=data.get("points", []), user=request.user)
        case = services.test_case_create(project=project, text=data["text"], expected=data["expected"],
                                         points=points, paraphrase_group=data.get("paraphrase_group", ""),
                                         user=request.user)
        return Response(TestCaseSerializer(case).data, status=status.HTTP_201_CREATED)


class TestCaseImportSerializer(serializers.ModelSerializer):
    progress_percent = serializers.SerializerMethodField()

    class Meta:
        model = TestCaseImport
        fields = ["id", "project", "original_name", "status", "progress_percent", "cases_imported", "problems",
                  "error", "created_at", "started_at", "finished_at"]

    def get_progress_percent(self, obj) -> int:
        return job_progress(obj)["percent"]


class TestCaseImportApi(APIView):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(request={"multipart/form-data": inline_serializer("TestCaseImportUpload", {
        "file": serializers.FileField(help_text='JSONL: {"text", "expected", "points", "paraphrase_group"} a line')})},
        responses={201: inline_serializer("TestCaseImported", {"imported": serializers.IntegerField()}),
                   202: inline_serializer("TestCaseImportQueued", {
                       "id": serializers.IntegerField(), "status": serializers.CharField(),
                       "url": serializers.URLField(help_text="Poll this for the import's progress and outcome.")})})
    def post(self, request, project_id):
        """Import test cases from a JSONL file, all or nothing: 400 with `problems` (line, message) otherwise.

        A small file is imported at once (201). A larger one is queued as a job (202): poll its `url`.
        """
        project = project_for_user(request.user, project_id, role=Role.LEAD)
        upload = request.FILES.get("file")
        if upload is None:
            raise serializers.ValidationError({"file": "Attach a JSONL file."})
        case_import = services.test_cases_import_start(project=project, upload=upload, user=request.user)
        if case_import.is_active:
            url = request.build_absolute_uri(reverse("api-test-case-import-detail", args=[case_import.id]))
            return Response({"id": case_import.id, "status": case_import.status, "url": url},
                            status=status.HTTP_202_ACCEPTED)
        if case_import.status != JobStatus.SUCCEEDED:
            raise ApplicationError(case_import.error, problems=case_import.problems)
        return Response({"imported": case_import.cases_imported}, status=status.HTTP_201_CREATED)


class TestCaseImportDetailApi(APIView):
    @extend_schema(responses=TestCaseImportSerializer)
    def get(self, request, import_id):
        """A test-case import: its status and progress, then how many test cases it made or its problems."""
        return Response(TestCaseImportSerializer(selectors.test_case_import_for_user(request.user, import_id)).data)


class TestCaseDetailApi(APIView):
    @extend_schema(responses=TestCaseSerializer)
    def get(self, request, case_id):
        return Response(TestCaseSerializer(selectors.test_case_for_user(request.user, case_id,
                                                                        role=Role.REVIEWER)).data)

    @extend_schema(request=TestCaseSerializer, responses=TestCaseSerializer)
    def patch(self, request, case_id):
        """Change a test case; a new text is checked by the leakage guard again (400 when it clashes)."""
        case = selectors.test_case_for_user(request.user, case_id)
        serializer = TestCaseSerializer(case, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        points = (services.points_by_names(project=case.project, names=data["points"], user=request.user)
                  if "points" in request.data else None)
        case = services.test_case_update(case=case, text=data.get("text"), expected=data.get("expected"),
                                         points=points, paraphrase_group=data.get("paraphrase_group"))
        return Response(TestCaseSerializer(case).data)

    @extend_schema(responses={204: None})
    def delete(self, request, case_id):
        services.test_case_delete(case=selectors.test_case_for_user(request.user, case_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class ExampleDetailApi(APIView):
    @extend_schema(responses=ExampleSerializer)
    def get(self, request, example_id):
        return Response(ExampleSerializer(selectors.example_for_user(request.user, example_id,
                                                                     role=Role.REVIEWER)).data)

    @extend_schema(request=inline_serializer("ExampleUpdate", {
        "answer": serializers.JSONField(required=False),
        "points": serializers.ListField(child=serializers.CharField(), required=False)}),
        responses=ExampleSerializer)
    def patch(self, request, example_id):
        """Change an example's answer or points (the leakage guard is checked again)."""
        example = selectors.example_for_user(request.user, example_id)
        answer = request.data.get("answer")
        if answer is not None and not isinstance(answer, dict):
            raise serializers.ValidationError({"answer": "Give an answer object."})
        points = (services.points_by_names(project=example.project, names=list(request.data["points"]),
                                           user=request.user) if "points" in request.data else None)
        example = services.training_example_update(example=example, answer=answer, points=points)
        return Response(ExampleSerializer(example).data)

    @extend_schema(responses={204: None})
    def delete(self, request, example_id):
        services.training_example_delete(example=selectors.example_for_user(request.user, example_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class AgreementApi(APIView):
    @extend_schema(responses={200: inline_serializer("Agreement", {
        "outputs": serializers.IntegerField(), "verdict_kappa": serializers.FloatField(allow_null=True),
        "label_kappa": serializers.FloatField(allow_null=True), "pairs": serializers.ListField()})})
    def get(self, request, project_id):
        project = project_for_user(request.user, project_id, role=Role.LEAD)
        return Response(selectors.agreement(project))
