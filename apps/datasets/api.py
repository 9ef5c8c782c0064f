from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.models import Role
from apps.accounts.selectors import project_for_user
from apps.core.api import paginate
from apps.core.jobs import job_progress
from apps.core.models import JobStatus
from apps.core.params import choice_param

from . import selectors, services
from .exporters import export_formats_for, export_response
from .forms import FORMAT_BY_EXTENSION
from .models import Dataset, DatasetImport, ImportFormat, Record, Split

FILTER_PARAMETERS = [
    OpenApiParameter("q", str, description="Text contains (case-insensitive)"),
    OpenApiParameter("label", str),
    OpenApiParameter("split", str, enum=["train", "test", "none"]),
]


class DatasetSerializer(serializers.ModelSerializer):
    record_count = serializers.SerializerMethodField()

    class Meta:
        model = Dataset
        fields = ["id", "project", "name", "description", "record_count", "created_at"]
        read_only_fields = ["id", "project", "created_at"]

    def get_record_count(self, dataset) -> int:
        counted = getattr(dataset, "record_count", None)  # annotated by the list selector
        return dataset.records.count() if counted is None else counted


class RecordSerializer(serializers.ModelSerializer):
    class Meta:
        model = Record
        fields = ["id", "position", "text", "label", "entities", "metadata", "split"]


class DatasetImportSerializer(serializers.ModelSerializer):
    progress_percent = serializers.SerializerMethodField()

    class Meta:
        model = DatasetImport
        fields = ["id", "dataset", "original_name", "format", "status", "progress_percent", "records_imported",
                  "problems", "notices", "error", "created_at", "started_at", "finished_at"]

    def get_progress_percent(self, obj) -> int:
        return job_progress(obj)["percent"]


class ImportUploadSerializer(serializers.Serializer):
    file = serializers.FileField()
    format = serializers.ChoiceField(choices=ImportFormat.choices, required=False)
    text_column = serializers.CharField(required=False)
    label_column = serializers.CharField(required=False)
    no_labels = serializers.BooleanField(
        required=False, default=False,
        help_text="CSV: the file has no label column although the project has labels; import the records unlabelled.")
    iob1 = serializers.ChoiceField(
        choices=["convert"], required=False,
        help_text="CoNLL: `convert` reads an IOB1 file (entities start with I-): an I- tag that starts an entity "
                  "becomes B-; the import's `notices` say how many were changed. Without it an IOB1 file is refused.")

    def validate(self, attrs):
        if not attrs.get("format"):
            suffix = "." + attrs["file"].name.rsplit(".", 1)[-1].lower() if "." in attrs["file"].name else ""
            if suffix not in FORMAT_BY_EXTENSION:
                raise serializers.ValidationError({"format": "Give the format: the file name does not tell."})
            attrs["format"] = FORMAT_BY_EXTENSION[suffix]
        return attrs


class SplitRequestSerializer(serializers.Serializer):
    split = serializers.ChoiceField(choices=[c for c in Split.values if c] + ["none"], required=False,
                                    help_text="Put the matching records in this split.")
    test_share = serializers.FloatField(min_value=0, max_value=1, required=False,
                                        help_text="Or: shuffle the matching records and put this share in test.")
    seed = serializers.IntegerField(required=False, default=0)

    def validate(self, attrs):
        if ("split" in attrs) == ("test_share" in attrs):
            raise serializers.ValidationError("Give either split or test_share.")
        return attrs


class DatasetListApi(APIView):
    @extend_schema(responses=DatasetSerializer(many=True))
    def get(self, request, project_id):
        project = project_for_user(request.user, project_id)
        return paginate(request, self, selectors.datasets_of(project), DatasetSerializer)

    @extend_schema(request=DatasetSerializer, responses={201: DatasetSerializer})
    def post(self, request, project_id):
        project = project_for_user(request.user, project_id, role=Role.LEAD)
        serializer = DatasetSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        dataset = services.dataset_create(project=project, user=request.user, **serializer.validated_data)
        return Response(DatasetSerializer(dataset).data, status=status.HTTP_201_CREATED)


class DatasetDetailApi(APIView):
    @extend_schema(responses=DatasetSerializer)
    def get(self, request, dataset_id):
        dataset = selectors.dataset_for_user(request.user, dataset_id)
        dataset.record_count = dataset.records.count()
        return Response(DatasetSerializer(dataset).data)

    @extend_schema(request=DatasetSerializer, responses=DatasetSerializer)
    def patch(self, request, dataset_id):
        dataset = selectors.dataset_for_user(request.user, dataset_id, role=Role.LEAD)
        serializer = DatasetSerializer(dataset, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        fields = {"name": dataset.name, "description": dataset.description, **serializer.validated_data}
        return Response(DatasetSerializer(services.dataset_update(dataset=dataset, **fields)).data)

    @extend_schema(responses={204: None})
    def delete(self, request, dataset_id):
        services.dataset_delete(dataset=selectors.dataset_for_user(request.user, dataset_id, role=Role.LEAD))
        return Response(status=status.HTTP_204_NO_CONTENT)


class RecordListApi(APIView):
    @extend_schema(parameters=FILTER_PARAMETERS, responses=RecordSerializer(many=True))
    def get(self, request, dataset_id):
        dataset = selectors.dataset_for_user(request.user, dataset_id)
        records = selectors.records_filtered(dataset, **selectors.record_filters(request.query_params))
        return paginate(request, self, records, RecordSerializer)


class ImportListApi(APIView):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(responses=DatasetImportSerializer(many=True))
    def get(self, request, dataset_id):
        dataset = selectors.dataset_for_user(request.user, dataset_id)
        return paginate(request, self, dataset.imports.all(), DatasetImportSerializer)

    @extend_schema(request={"multipart/form-data": ImportUploadSerializer},
                   responses={201: DatasetImportSerializer, 202: DatasetImportSerializer,
                              400: DatasetImportSerializer})
    def post(self, request, dataset_id):
        """Import a file. 201: imported; 202: queued as a job (poll the import); 400: rejected, with problems.

        A CSV without the label column, in a project with labels, is refused with 400 and the file's `columns`:
        send `label_column` naming one of them, or `no_labels=true`.
        """
        dataset = selectors.dataset_for_user(request.user, dataset_id, role=Role.LEAD)
        serializer = ImportUploadSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        options = {key: data[key] for key in ("text_column", "label_column", "no_labels", "iob1") if data.get(key)}
        try:
            dataset_import = services.dataset_import_start(
                dataset=dataset, upload=data["file"], file_format=data["format"], options=options,
                user=request.user,
            )
        except services.ColumnChoiceNeeded as exc:
            return Response({"detail": exc.message, "columns": exc.columns}, status=status.HTTP_400_BAD_REQUEST)
        code = {JobStatus.SUCCEEDED: 201, JobStatus.FAILED: 400}.get(dataset_import.status, 202)
        return Response(DatasetImportSerializer(dataset_import).data, status=code)


class ImportDetailApi(APIView):
    @extend_schema(responses=DatasetImportSerializer)
    def get(self, request, import_id):
        return Response(DatasetImportSerializer(selectors.import_for_user(request.user, import_id)).data)


class DatasetExportApi(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("format", str, enum=["csv", "jsonl", "conll"]), *FILTER_PARAMETERS],
        responses={(200, "text/plain"): OpenApiTypes.STR},
    )
    def get(self, request, dataset_id):
        dataset = selectors.dataset_for_user(request.user, dataset_id)
        export_format = choice_param(request.query_params, "format", export_formats_for(dataset.project),
                                     default="jsonl")
        records = selectors.records_filtered(dataset, **selectors.record_filters(request.query_params))
        return export_response(dataset, records, export_format)


class DatasetSplitApi(APIView):
    @extend_schema(parameters=FILTER_PARAMETERS, request=SplitRequestSerializer, responses={200: OpenApiTypes.OBJECT})
    def post(self, request, dataset_id):
        """Assign the records matching the filters to a split, or split them at random."""
        dataset = selectors.dataset_for_user(request.user, dataset_id, role=Role.LEAD)
        serializer = SplitRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        records = selectors.records_filtered(dataset, **selectors.record_filters(request.query_params))
        if "split" in data:
            split = "" if data["split"] == "none" else data["split"]
            return Response({"updated": services.records_set_split(records=records, split=split)})
        return Response(services.records_random_split(records=records, test_share=data["test_share"],
                                                      seed=data["seed"]))
