from django.test import override_settings


def test_browser_pages_get_the_browser_middleware(client, db):
    response = client.get("/login/")
    assert response["X-Frame-Options"] == "DENY"
    assert "csrftoken" in response.cookies


def test_v1_skips_it_but_keeps_ids_policy_and_the_envelope(client, transactional_db):
    # NOTE: transactional: the refusal's log row is written from a worker thread, which a
    # test transaction holding SQLite's write lock would block.
    response = client.get("/v1/models")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_required"
    assert "X-Frame-Options" not in response and not response.cookies
    assert len(response["X-Request-ID"]) == 32
    assert "default-src 'self'" in response["Content-Security-Policy"]


@override_settings(DEBUG=False)
def test_an_unknown_api_path_answers_json_not_html(client, db):
    response = client.get("/api/v1/nothing")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
