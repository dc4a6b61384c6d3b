import pytest


@pytest.mark.django_db
def test_unknown_api_path_answers_json(client):
    response = client.get("/api/v1/nowhere/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.django_db
def test_unknown_page_answers_html(client):
    response = client.get("/nowhere/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
