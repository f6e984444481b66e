import pytest
from knox.models import AuthToken
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


def token_client(key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def created_key(page) -> str:
    text = page.content.decode()
    start = text.index('data-testid="new-token">') + len('data-testid="new-token">')
    return text[start : text.index("</code>", start)]


def test_admin_creates_a_token_that_works_then_revokes_it(
    client, admin_user, assistant, make_patient
):
    make_patient()
    member = assistant.memberships.get()
    client.force_login(admin_user)
    page = client.post("/settings/api-tokens/", {"member": member.pk, "action": "create"})
    key = created_key(page)
    assert AuthToken.objects.filter(user=assistant).count() == 1
    assert token_client(key).get("/api/patients/").json()["count"] == 1
    # The key is shown once: the list page does not show it again.
    assert key not in client.get("/settings/api-tokens/").content.decode()
    client.post("/settings/api-tokens/", {"member": member.pk, "action": "revoke"})
    assert not AuthToken.objects.filter(user=assistant).exists()
    assert token_client(key).get("/api/patients/").status_code in (401, 403)


def test_only_admins_manage_tokens(client, assistant):
    client.force_login(assistant)
    assert client.get("/settings/api-tokens/").status_code == 403


def test_admin_cannot_make_a_token_for_another_clinics_staff(client, admin_user, outsider):
    client.force_login(admin_user)
    response = client.post(
        "/settings/api-tokens/", {"member": outsider.memberships.get().pk, "action": "create"}
    )
    assert response.status_code == 404
    assert not AuthToken.objects.filter(user=outsider).exists()


def test_token_clients_are_throttled(settings, assistant):
    from django.core.cache import cache

    from crm.api_tokens import api_token_create

    cache.clear()
    settings.API_TOKEN_RATE = "3/min"
    client = token_client(api_token_create(membership=assistant.memberships.get()))
    statuses = [client.get("/api/tag-groups/").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    assert client.get("/api/tag-groups/").json()["code"] == "throttled"
    cache.clear()
