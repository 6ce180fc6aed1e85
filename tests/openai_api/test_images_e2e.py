"""End to end: /v1/images/generations and /v1/images/edits with the OpenAI SDK, gunicorn and the simulator
(GEMPOOL_IMAGE_WAIT_SECONDS=3 and GEMPOOL_IMAGE_POLL_INTERVAL=0.2 in the test gateway)."""
from __future__ import annotations

import base64
import io

import httpx2 as httpx
import openai
import pytest

from accounts.models import RequestLog
from models_catalog.models import ModelAlias, ModelConfig
from tests.polling import wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("catalogue")]

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _logged(count: int) -> list[RequestLog]:
    assert wait_until(lambda: RequestLog.objects.filter(endpoint="images").count() >= count, 5) is not None
    return list(RequestLog.objects.filter(endpoint="images").order_by("created_at"))


def test_images_generate_answers_links_that_serve_the_png(openai_client, pool_account, gateway):
    pool_account()
    result = openai_client.images.generate(model="dall-e-3", prompt="a lighthouse at dusk", size="1024x1024")
    [image] = result.data
    assert image.url.startswith(gateway.url + "/image/") and image.b64_json is None
    served = httpx.get(image.url)
    assert served.status_code == 200 and served.content.startswith(PNG_MAGIC)
    [row] = _logged(1)
    assert (row.model, row.status_code, row.attempts) == ("gemini-imagen", 200, 1)  # unknown name: image model


def test_images_generate_answers_base64_and_several_images(openai_client, pool_account):
    pool_account()
    result = openai_client.images.generate(model="gemini-imagen", prompt="two cats", n=2,
                                           response_format="b64_json")
    assert len(result.data) == 2
    assert all(base64.b64decode(item.b64_json).startswith(PNG_MAGIC) and item.url is None for item in result.data)
    assert [row.status_code for row in _logged(2)] == [200, 200]


def test_an_alias_routes_to_an_image_model_and_a_text_model_is_refused(openai_client, pool_account):
    pool_account()
    ModelAlias.objects.create(alias="gpt-image-1", model_id="gemini-imagen")
    assert openai_client.images.generate(model="gpt-image-1", prompt="a fox").data[0].url
    with pytest.raises(openai.BadRequestError) as raised:
        openai_client.images.generate(model="gemini-2.5-flash", prompt="a fox")
    assert raised.value.body["code"] == "model_not_supported" and raised.value.body["param"] == "model"


def test_an_answer_without_an_image_moves_to_another_account(openai_client, pool_account, sim):
    pool_account(), pool_account()
    sim.add_fault("image_missing", count=1)
    result = openai_client.images.generate(model="gemini-imagen", prompt="a boat")
    assert result.data[0].url
    [row] = _logged(1)
    assert (row.status_code, row.attempts) == (200, 2)


def test_images_listed_late_are_waited_for(openai_client, pool_account):
    pool_account()
    result = openai_client.images.generate(model="gemini-imagen", prompt="a slow painting [[sim:image_late=1]]",
                                           response_format="b64_json")
    assert base64.b64decode(result.data[0].b64_json).startswith(PNG_MAGIC)
    assert _logged(1)[0].attempts == 1


def test_no_image_from_any_account_is_a_clear_error(openai_client, pool_account, sim):
    pool_account()
    sim.add_fault("image_missing")
    with pytest.raises(openai.APIStatusError) as raised:
        openai_client.images.generate(model="gemini-imagen", prompt="a bridge")
    assert raised.value.status_code == 502 and raised.value.body["code"] == "no_image"
    assert "No image came back" in raised.value.body["message"]


def test_images_edit_sends_the_uploaded_image_along(openai_client, pool_account, sim):
    pool_account()
    source = _png()
    result = openai_client.images.edit(model="gemini-imagen", image=("photo.png", io.BytesIO(source), "image/png"),
                                       prompt="make it blue", response_format="url")
    assert result.data[0].url
    assert sim.stats()["requests"].get("addContextFile") == 1  # the picture went up with the question


def _png() -> bytes:
    from gemini_enterprise.simulator.media import tiny_png

    return tiny_png()


@pytest.mark.parametrize("body,param", [
    ({"model": "gemini-imagen"}, "prompt"),
    ({"prompt": "x", "n": 9}, "n"),
    ({"prompt": "x", "response_format": "gif"}, "response_format"),
    ({"prompt": "x", "size": "huge"}, "size"),
])
def test_bad_image_requests_name_the_param(gateway, api_key, body, param):
    answer = httpx.post(gateway.url + "/v1/images/generations", json=body,
                        headers={"Authorization": f"Bearer {api_key[1]}"})
    assert answer.status_code == 400 and answer.json()["error"]["param"] == param


def test_no_image_model_enabled_is_a_clear_error(gateway, api_key):
    ModelConfig.objects.filter(image_generation=True).update(enabled=False)
    answer = httpx.post(gateway.url + "/v1/images/generations", json={"prompt": "x"},
                        headers={"Authorization": f"Bearer {api_key[1]}"})
    assert answer.status_code == 400 and "No image-capable model" in answer.json()["error"]["message"]


def test_an_edit_without_an_image_or_with_a_non_image_is_refused(gateway, api_key):
    headers = {"Authorization": f"Bearer {api_key[1]}"}
    missing = httpx.post(gateway.url + "/v1/images/edits", data={"prompt": "x"}, files={"mask": ("m", b"x")},
                         headers=headers)
    assert missing.status_code == 400 and missing.json()["error"]["param"] == "image"
    text = httpx.post(gateway.url + "/v1/images/edits", data={"prompt": "x"},
                      files={"image": ("notes.txt", b"hello", "text/plain")}, headers=headers)
    assert text.status_code == 400 and "not an image" in text.json()["error"]["message"]
