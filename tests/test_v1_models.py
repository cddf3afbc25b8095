"""OpenAI ``/v1/models`` with the official ``openai`` SDK, and the ``/v1`` error shape that every
route shares (an unknown path, no key, a body too large)."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.conftest import openai_sdk, register


def test_models_list_the_enabled_agents(alice: httpx.Client) -> None:
    sdk = openai_sdk(alice)
    models = {m.id: m for m in sdk.models.list()}
    assert {"echo", "steps"} <= set(models)
    echo = models["echo"]
    assert echo.object == "model" and echo.owned_by == "uai" and echo.created > 1_700_000_000
    assert sdk.models.retrieve("echo").id == "echo"


def test_an_unknown_or_disabled_model_is_model_not_found(alice: httpx.Client) -> None:
    register("switched-off", "tests.agents:reporter", enabled=False)
    sdk = openai_sdk(alice)
    for name in ("no-such-agent", "switched-off"):
        with pytest.raises(openai.NotFoundError) as caught:
            sdk.models.retrieve(name)
        assert caught.value.code == "model_not_found"
        assert caught.value.body["type"] == "invalid_request_error"
        assert caught.value.body["param"] == "model"
    assert "switched-off" not in {m.id for m in sdk.models.list()}


def test_no_key_or_a_wrong_key_is_401_invalid_api_key(live: str) -> None:
    for key in ("", "not-a-token"):
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        answer = httpx.get(live + "/v1/models", headers=headers)
        assert answer.status_code == 401
        error = answer.json()["error"]
        assert error["code"] == "invalid_api_key" and error["type"] == "invalid_request_error"
        assert error["message"]
    with (
        openai.OpenAI(base_url=live + "/v1", api_key="not-a-token", max_retries=0) as stranger,
        pytest.raises(openai.AuthenticationError),
    ):
        stranger.models.list()


def test_unknown_v1_paths_and_methods_answer_in_openai_shape(alice: httpx.Client) -> None:
    answer = alice.get("/v1/no/such/thing")
    assert answer.status_code == 404
    assert set(answer.json()["error"]) == {"message", "type", "param", "code"}
    answer = alice.delete("/v1/models")
    assert answer.status_code == 405
    assert answer.json()["error"]["type"] == "invalid_request_error"
    # the other surfaces keep theirs
    assert "detail" in alice.get("/no/such/thing").json()


def test_a_body_over_the_json_limit_is_413_in_openai_shape(alice: httpx.Client) -> None:
    """A message larger than UAI_MAX_JSON_BYTES (2 MiB, as the test server has it): a big pasted
    document, as a client sends it."""
    sdk = openai_sdk(alice)
    with pytest.raises(openai.APIStatusError) as caught:
        sdk.chat.completions.create(
            model="echo", messages=[{"role": "user", "content": "x" * (2 * 1024 * 1024)}]
        )
    assert caught.value.status_code == 413
    assert caught.value.code == "request_too_large"
    assert "UAI_MAX_JSON_BYTES" in caught.value.message
