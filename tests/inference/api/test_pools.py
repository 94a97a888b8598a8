from portal.roles import Role
from portal.services.accounts import token_issue
from tests.conftest import raw_request


def test_admins_see_each_pools_device_dtype_weights_and_state(asgi_server, make_user):
    token = token_issue(user=make_user("root", Role.ADMIN))
    pools = raw_request(
        asgi_server, "GET", "/api/v1/pools/", headers={"Authorization": f"Bearer {token}"}
    ).json()["pools"]
    chat = pools["tiny-chat"]
    assert chat["device"] in ("cpu", "cuda:0") and chat["state"] == "ready"
    assert chat["weight_bytes"] > 0 and chat["dtype"] in ("float32", "bfloat16")


def test_others_may_not(asgi_server, api_token):
    response = raw_request(
        asgi_server, "GET", "/api/v1/pools/", headers={"Authorization": f"Bearer {api_token}"}
    )
    assert response.status == 403 and response.error_code == "permission_denied"
