"""The OpenAPI schema and its docs page, served without any external request."""

import re


def test_schema_lists_both_apis_and_bearer_auth(client, db):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    for path in (
        "/v1/chat/completions",
        "/v1/completions",
        "/v1/embeddings",
        "/v1/models",
        "/api/v1/jobs/",
    ):
        assert path in schema["paths"]
    assert schema["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_docs_page_loads_nothing_from_outside(client, db):
    page = client.get("/api/docs/").content.decode()
    assert "swagger" in page.lower()
    external = re.findall(r'(?:src|href)="(https?://[^"]+)"', page)
    assert external == []
