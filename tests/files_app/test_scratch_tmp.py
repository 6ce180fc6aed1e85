import openai
import pytest


@pytest.mark.django_db(transaction=True)
def test_big(live_server, api_key):
    with openai.OpenAI(api_key=api_key[1], base_url=live_server.url + "/v1", max_retries=0) as sdk:
        with pytest.raises(openai.APIStatusError) as info:
            sdk.files.create(file=("big.bin", b"\1" * (25 * 1024 * 1024)), purpose="assistants")
        assert info.value.status_code == 413
