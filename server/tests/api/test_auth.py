"""Token endpoint, both auth headers, the 401 body and token expiry."""

from __future__ import annotations

import time

import requests

from symbl_server import ServerSettings

TOKEN_FAILED = {"message": "Token validation failed for provided token."}


def _token(base_url: str, app_id: str, app_secret: str) -> requests.Response:
    return requests.post(
        f"{base_url}/oauth2/token:generate",
        json={"type": "application", "appId": app_id, "appSecret": app_secret},
        timeout=10,
    )


def test_token_is_cached_with_its_remaining_lifetime(server, credentials) -> None:
    first = _token(server.base_url, credentials["app_id"], credentials["app_secret"])
    assert first.status_code == 200
    assert first.json()["expiresIn"] == 86400
    time.sleep(1.1)
    second = _token(server.base_url, credentials["app_id"], credentials["app_secret"]).json()
    assert second["accessToken"] == first.json()["accessToken"]
    assert second["expiresIn"] in (86398, 86399)


def test_wrong_credentials_are_refused_without_echoing_the_secret(server, credentials) -> None:
    response = _token(server.base_url, credentials["app_id"], "not-the-secret")
    assert response.status_code == 401
    assert "message" in response.json() and "not-the-secret" not in response.text
    assert _token(server.base_url, "someone-else", credentials["app_secret"]).status_code == 401
    malformed = requests.post(f"{server.base_url}/oauth2/token:generate", data="{", timeout=10)
    assert malformed.status_code == 400


def test_bearer_and_x_api_key_headers_are_both_accepted(server, api) -> None:
    token = api.token()
    url = f"{server.base_url}/v1/conversations"
    assert requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10).status_code == 200
    assert requests.get(url, headers={"x-api-key": token}, timeout=10).status_code == 200


def test_missing_or_bad_token_gets_the_documented_401(server, api) -> None:
    url = f"{server.base_url}/v1/conversations"
    for headers in ({}, {"x-api-key": "nonsense"}, {"Authorization": "Bearer " + api.token()[:-2] + "xx"}):
        response = requests.get(url, headers=headers, timeout=10)
        assert response.status_code == 401
        assert response.json() == TOKEN_FAILED


def test_token_expires_and_a_new_one_is_issued(make_server, make_api) -> None:
    server = make_server(ServerSettings(token_lifetime_s=2))
    api = make_api(server.base_url)
    old = api.token()
    assert api.get("/v1/conversations").status_code == 200
    time.sleep(2.2)
    expired = api.get("/v1/conversations")
    assert expired.status_code == 401 and expired.json() == TOKEN_FAILED
    api._token = None
    assert api.token() != old
    assert api.get("/v1/conversations").status_code == 200


def test_tokens_survive_a_restart(make_server, make_api, tmp_path) -> None:
    first = make_server(data_dir=tmp_path / "kept")
    api = make_api(first.base_url)
    token = api.token()
    first.stop()
    second = make_server(data_dir=tmp_path / "kept")
    response = requests.get(f"{second.base_url}/v1/conversations", headers={"x-api-key": token}, timeout=10)
    assert response.status_code == 200
