"""`get_experience_url` against the local server: a page link a browser opens without the API token."""

from __future__ import annotations

import pytest
import requests

from symbl_dagster.client import SymblClient
from symbl_dagster.errors import SymblBadRequestError, SymblNotFoundError
from symbl_dagster.models import TextMessage

from .conftest import APP_ID, APP_SECRET


def test_the_experience_url_opens_the_conversation_page(local_server):
    server = local_server()
    with SymblClient(APP_ID, APP_SECRET, server.base_url) as client:
        submission = client.submit_text([TextMessage("Could you send the signed contract by Friday?", "Ana")])
        assert client.wait_for_job(submission.job_id).is_completed
        url = client.get_experience_url(submission.conversation_id)
        page = requests.get(url, timeout=10)  # no Authorization header: the link is the credential
        assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
        assert "Could you send the signed contract by Friday?" in page.text and "Ana" in page.text
        with pytest.raises(SymblBadRequestError, match="summaryURLExpiresIn"):
            client.get_experience_url(submission.conversation_id, expires_in_s=-1)
        with pytest.raises(SymblNotFoundError):
            client.get_experience_url("1000000000000000")
