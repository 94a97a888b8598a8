from django.utils import timezone

from compliance.models import RequestLog
from portal.roles import Role
from tests.conftest import PASSWORD


def test_pages_need_a_login(client, db):
    for path in ("/", "/history/", "/text/"):
        response = client.get(path)
        assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_login_then_home(client, make_user):
    make_user("carol")
    response = client.post("/login/", {"username": "carol", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/"
    page = client.get("/").content.decode()
    assert "carol" in page and 'href="/text/"' in page


def test_logout_is_a_post(client, make_user):
    client.force_login(make_user("carol"))
    assert client.post("/logout/").status_code == 302
    assert client.get("/").status_code == 302


def test_history_shows_only_own_rows(client, make_user):
    carol, dave = make_user("carol"), make_user("dave")
    for user, model in ((carol, "tiny-chat"), (dave, "minilm-embed")):
        RequestLog.objects.create(
            request_id="x",
            created_at=timezone.now(),
            endpoint="/v1/x",
            status_code=200,
            actor_id=user.id,
            model=model,
        )
    client.force_login(carol)
    page = client.get("/history/").content.decode()
    assert "tiny-chat" in page and "minilm-embed" not in page


def test_auditor_sees_no_text_page(client, make_user):
    client.force_login(make_user("audrey", Role.AUDITOR))
    assert client.get("/text/").status_code == 403
    assert 'href="/text/"' not in client.get("/").content.decode()


def test_text_page_offers_generation_models_only(client, make_user):
    client.force_login(make_user("carol"))
    page = client.get("/text/").content.decode()
    assert 'value="tiny-chat"' in page and 'value="minilm-embed"' not in page


def test_pages_carry_a_strict_content_security_policy(client, db):
    response = client.get("/login/")
    assert "script-src 'self'" in response["Content-Security-Policy"]
    assert len(response["X-Request-ID"]) == 32


MEDIA_PAGES = ("/images/classify/", "/images/generate/", "/audio/")


def test_media_pages_need_a_login(client, db):
    for path in MEDIA_PAGES:
        response = client.get(path)
        assert response.status_code == 302
        assert response["Location"] == f"/login/?next={path}"


def test_auditor_may_not_open_the_media_pages_nor_sees_them_linked(client, make_user):
    client.force_login(make_user("audrey", Role.AUDITOR))
    home = client.get("/").content.decode()
    for path in MEDIA_PAGES:
        assert client.get(path).status_code == 403
        assert f'href="{path}"' not in home


def test_media_pages_are_linked_from_the_top_bar_and_the_home_page(client, make_user):
    client.force_login(make_user("carol"))
    home = client.get("/").content.decode()
    for path in MEDIA_PAGES:
        assert home.count(f'href="{path}"') == 2  # the nav link and the tile


def test_classify_page_offers_image_classification_models_only(client, make_user):
    client.force_login(make_user("carol"))
    response = client.get("/images/classify/")
    page = response.content.decode()
    assert response.status_code == 200
    assert 'value="tiny-vit"' in page
    assert 'value="tiny-sd"' not in page and 'value="tiny-chat"' not in page
    assert 'name="csrfmiddlewaretoken"' in page


def test_generate_page_offers_image_generation_models_only(client, make_user):
    client.force_login(make_user("carol"))
    response = client.get("/images/generate/")
    page = response.content.decode()
    assert response.status_code == 200
    assert 'value="tiny-sd"' in page
    assert 'value="tiny-vit"' not in page and 'value="tiny-chat"' not in page


def test_audio_page_offers_transcription_and_speech_detection_models(client, make_user):
    client.force_login(make_user("carol"))
    response = client.get("/audio/")
    page = response.content.decode()
    assert response.status_code == 200
    transcription = page.split('id="transcription-model"')[1].split("</select>")[0]
    detection = page.split('id="detection-model"')[1].split("</select>")[0]
    assert 'value="tiny-whisper"' in transcription and "silero-vad" not in transcription
    assert 'value="silero-vad"' in detection and "tiny-whisper" not in detection
    assert 'value="tiny-vit"' not in page


def test_media_pages_load_their_scripts_from_static_files_only(client, make_user):
    client.force_login(make_user("carol"))
    for path in MEDIA_PAGES:
        page = client.get(path).content.decode()
        assert "<script>" not in page and " style=" not in page
        assert "/static/inference/" in page
