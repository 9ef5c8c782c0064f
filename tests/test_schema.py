from django.core.management import call_command


def test_openapi_schema_builds_without_warnings(tmp_path, capsys):
    out = tmp_path / "schema.yml"
    call_command("spectacular", "--file", str(out), "--validate", "--fail-on-warn")
    schema = out.read_text()
    for path in ("/api/projects/", "/api/datasets/{dataset_id}/imports/", "/api/datasets/{dataset_id}/export/"):
        assert path in schema


def test_schema_endpoint_serves_it(people, client):
    client.force_login(people["reviewer"])
    assert client.get("/api/schema/").status_code == 200
