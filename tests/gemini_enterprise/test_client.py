"""GeminiClient against canned HTTP responses (`responses`): requests sent, errors mapped, retries."""

from __future__ import annotations

import base64
import itertools
import json
import logging

import pytest
import requests
import responses

from gemini_enterprise.client import GeminiClient, decode_base64_media, redact
from gemini_enterprise.errors import (
    AuthExpired,
    InvalidRequest,
    LoginRequired,
    NotFound,
    PermissionDenied,
    PolicyBlocked,
    RateLimited,
    Unavailable,
)
from gemini_enterprise.simulator.media import tiny_png
from gemini_enterprise.types import (
    ClientConfig,
    Credentials,
    FinalState,
    StreamError,
    TextDelta,
    ToolsSpec,
)

AUTH = "https://auth.example.test"
API = "https://api.example.test"
BASE = f"{API}/v1alpha/locations/global"
# `responses` stands in for requests' transport, so these tests pin the requests client; the lean one
# (gemini_enterprise/http11.py) is tested against loopback servers in test_http11.py and the simulator.
CONFIG = ClientConfig(auth_url=AUTH, api_url=API, upstream_client="requests")
CREDS = Credentials(
    key="acct-1", team_id="team-uuid", csesidx="42", secure_c_ses="SES-SECRET", host_c_oses="OSES-SECRET"
)
XSRF_BODY = ')]}\'\n{"xsrfToken": "ZXhhbXBsZS1obWFjLWtleS0wMTIzNDU2Nzg5IQ", "keyId": "kid"}'
SESSION = "collections/default_collection/engines/agentspace-engine/sessions/1234567890123456789"
FULL = "projects/1/locations/global/" + SESSION
STREAM_BODY = (
    '[{\n  "uToken": "u",\n  "streamAssistResponse": {"answer": {"state": "IN_PROGRESS", "replies": '
    '[{"groundedContent": {"content": {"text": "Hel"}}}]}}\n}\n,\r\n{"streamAssistResponse": '
    '{"answer": {"state": "SUCCEEDED", "replies": [{"groundedContent": {"content": {"text": "lo"}}}]}, '
    f'"sessionInfo": {{"session": "{FULL}"}}}}}}\n]'
)


@pytest.fixture
def rsps():
    issued = itertools.count(1)

    def getoxsrf(request):  # a new keyId per call, like upstream
        return 200, {}, XSRF_BODY.replace('"kid"', f'"kid-{next(issued)}"')

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_callback(responses.GET, f"{AUTH}/auth/getoxsrf", callback=getoxsrf)
        yield mock


@pytest.fixture
def gclient():
    with GeminiClient(CONFIG) as c:
        yield c


def sent(call) -> dict:
    body = call.request.body
    if not isinstance(body, bytes | str):  # an upload's body is produced piece by piece
        body = b"".join(body)
    return json.loads(body)


def test_the_client_sends_the_envelope_and_browser_headers(rsps, gclient) -> None:
    rsp = rsps.post(f"{BASE}/widgetCreateSession", json={"session": {"name": SESSION}})
    assert gclient.create_session(CREDS) == SESSION
    body, headers = sent(rsp.calls[0]), rsp.calls[0].request.headers
    assert body == {
        "configId": "team-uuid",
        "additionalParams": {"token": "-"},
        "createSessionRequest": {"session": {"name": "", "displayName": ""}},
    }
    assert headers["authorization"].startswith("Bearer eyJ")
    assert headers["content-type"] == "application/json"
    assert headers["x-server-timeout"] == "1800"
    assert headers["origin"] == AUTH
    assert "cookie" not in {k.lower() for k in headers}


def test_the_client_builds_the_stream_assist_request(rsps, gclient) -> None:
    rsp = rsps.post(f"{BASE}/widgetStreamAssist", body=STREAM_BODY)
    stream = gclient.stream_assist(
        CREDS,
        session=SESSION,
        query="",
        file_ids=["11", "12"],
        model_id="gemini-2.5-pro",
        tools=ToolsSpec(image_generation=True),
        language_code="de-DE",
        time_zone="Europe/Berlin",
    )
    events = list(stream)
    request = sent(rsp.calls[0])["streamAssistRequest"]
    assert request["query"] == {"parts": [{"text": " "}]}
    assert request["fileIds"] == ["11", "12"]
    assert request["assistGenerationConfig"] == {"modelId": "gemini-2.5-pro"}
    assert request["toolsSpec"] == {
        "webGroundingSpec": {},
        "toolRegistry": "default_tool_registry",
        "imageGenerationSpec": {},
    }
    assert request["languageCode"] == "de-DE"
    assert request["userMetadata"] == {"timeZone": "Europe/Berlin"}
    assert request["session"] == SESSION
    assert [e for e in events if isinstance(e, TextDelta)] == [TextDelta("Hel"), TextDelta("lo")]
    assert isinstance(events[-1], FinalState)


def test_the_model_id_is_omitted_for_auto(rsps, gclient) -> None:
    rsp = rsps.post(f"{BASE}/widgetStreamAssist", body=STREAM_BODY)
    list(gclient.stream_assist(CREDS, session=SESSION, query="hi"))
    assert "assistGenerationConfig" not in sent(rsp.calls[0])["streamAssistRequest"]


EXHAUSTED = {
    "error": {
        "code": 429,
        "message": "Resource has been exhausted (e.g. check quota).",
        "status": "RESOURCE_EXHAUSTED",
    }
}


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (429, EXHAUSTED, RateLimited),
        (
            403,
            {"error": {"code": 403, "status": "PERMISSION_DENIED", "message": "not owned"}},
            PermissionDenied,
        ),
        (404, {"error": {"code": 404, "status": "NOT_FOUND", "message": "no session"}}, NotFound),
        (400, {"error": {"code": 400, "status": "INVALID_ARGUMENT", "message": "bad"}}, InvalidRequest),
        (500, {"error": {"code": 500, "status": "INTERNAL", "message": "oops"}}, Unavailable),
        (503, "Service Unavailable", Unavailable),
    ],
)
def test_an_error_status_raises_before_streaming(rsps, gclient, status, body, expected) -> None:
    kwargs = {"json": body} if isinstance(body, dict) else {"body": body}
    rsps.post(f"{BASE}/widgetStreamAssist", status=status, **kwargs)
    with pytest.raises(expected):
        gclient.stream_assist(CREDS, session=SESSION, query="hi")


def test_a_401_is_retried_once_with_a_fresh_jwt(rsps, gclient) -> None:
    unauth = {"error": {"code": 401, "status": "UNAUTHENTICATED", "message": "bad jwt"}}
    rsp = rsps.post(f"{BASE}/widgetCreateSession", status=401, json=unauth)
    rsps.post(f"{BASE}/widgetCreateSession", json={"session": {"name": SESSION}})
    assert gclient.create_session(CREDS) == SESSION
    auth_calls = [c for c in rsps.calls if "getoxsrf" in c.request.url]
    assert len(auth_calls) == 2
    tokens = [c.request.headers["authorization"] for c in rsps.calls if "widget" in c.request.url]
    assert len(tokens) == 2 and tokens[0] != tokens[1]
    assert rsp.call_count >= 1


def test_the_client_gives_up_after_the_second_401(rsps, gclient) -> None:
    unauth = {"error": {"code": 401, "status": "UNAUTHENTICATED", "message": "bad jwt"}}
    rsp = rsps.post(f"{BASE}/widgetCreateSession", status=401, json=unauth)
    with pytest.raises(AuthExpired):
        gclient.create_session(CREDS)
    assert rsp.call_count == 2


def test_dead_cookies_surface_as_login_required(gclient) -> None:
    with responses.RequestsMock() as mock:
        mock.get(f"{AUTH}/auth/getoxsrf", status=401)
        with pytest.raises(LoginRequired):
            gclient.create_session(CREDS)


def test_connection_errors_are_unavailable(rsps, gclient) -> None:
    rsps.post(f"{BASE}/widgetCreateSession", body=requests.exceptions.ConnectionError("refused"))
    with pytest.raises(Unavailable):
        gclient.create_session(CREDS)


def test_an_in_stream_error_element_ends_the_stream_with_a_stream_error(rsps, gclient) -> None:
    body = (
        '[{"streamAssistResponse": {"answer": {"state": "IN_PROGRESS", "replies": [{"groundedContent": '
        '{"content": {"text": "partial"}}}]}}}\n,\r\n' + json.dumps(EXHAUSTED) + "\n,\r\n"
        '{"streamAssistResponse": {"answer": {"state": "IN_PROGRESS", "replies": [{"groundedContent": '
        '{"content": {"text": "never"}}}]}}}\n]'
    )
    rsps.post(f"{BASE}/widgetStreamAssist", body=body)
    events = list(gclient.stream_assist(CREDS, session=SESSION, query="hi"))
    assert events[0] == TextDelta("partial")
    assert isinstance(events[-1], StreamError) and isinstance(events[-1].error, RateLimited)
    assert len(events) == 2


@pytest.mark.parametrize("body", [STREAM_BODY[:-3], STREAM_BODY[:40], '[{"a": nope}]'])
def test_a_truncated_or_malformed_stream_ends_with_unavailable(rsps, gclient, body) -> None:
    rsps.post(f"{BASE}/widgetStreamAssist", body=body)
    events = list(gclient.stream_assist(CREDS, session=SESSION, query="hi"))
    assert isinstance(events[-1], StreamError) and isinstance(events[-1].error, Unavailable)


def test_a_utoken_only_stream_is_auth_expired_and_drops_the_cached_jwt(rsps, gclient) -> None:
    rsps.post(f"{BASE}/widgetStreamAssist", body='[{"uToken": "abc"}]')
    events = list(gclient.stream_assist(CREDS, session=SESSION, query="hi"))
    assert isinstance(events[-1], StreamError) and isinstance(events[-1].error, AuthExpired)
    rsps.post(f"{BASE}/widgetCreateSession", json={"session": {"name": SESSION}})
    gclient.create_session(CREDS)
    assert len([c for c in rsps.calls if "getoxsrf" in c.request.url]) == 2


def test_context_files_are_uploaded_as_standard_base64(rsps, gclient) -> None:
    rsp = rsps.post(
        f"{BASE}/widgetAddContextFile",
        json={"addContextFileResponse": {"session": FULL, "fileId": "998877", "tokenCount": "12"}},
    )
    result = gclient.add_context_file(
        CREDS, session=SESSION, file_name="a.bin", mime_type="image/png", data=b"\xfb\xff\xfe"
    )
    assert result.file_id == "998877" and result.token_count == 12 and result.session == FULL
    assert sent(rsp.calls[0])["addContextFileRequest"] == {
        "name": SESSION,
        "fileName": "a.bin",
        "mimeType": "image/png",
        "fileContents": "+//+",
    }
    # A sized body, sent as it is encoded: no chunked framing, no whole base64 copy in memory.
    request = rsp.calls[0].request
    assert "Transfer-Encoding" not in request.headers
    assert int(request.headers["Content-Length"]) == len(b"".join(request.body))


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {"error": {"code": 400, "status": "INVALID_ARGUMENT", "message": "Unsupported file type: x/y"}},
            InvalidRequest,
        ),
        (
            {
                "error": {
                    "code": 400,
                    "status": "INVALID_ARGUMENT",
                    "message": "blocked",
                    "details": [{"reason": "MODEL_ARMOR_VIOLATION"}],
                }
            },
            PolicyBlocked,
        ),
    ],
)
def test_upload_refusals_are_the_requests_fault(rsps, gclient, body, expected) -> None:
    rsps.post(f"{BASE}/widgetAddContextFile", status=400, json=body)
    with pytest.raises(expected) as info:
        gclient.add_context_file(CREDS, session=SESSION, file_name="a", mime_type="x/y", data=b"1")
    assert not info.value.account_fault


def test_ai_generated_file_metadata_is_listed(rsps, gclient) -> None:
    rsp = rsps.post(
        f"{BASE}/widgetListSessionFileMetadata",
        json={
            "listSessionFileMetadataResponse": {
                "fileMetadata": [
                    {
                        "fileId": "5",
                        "name": "img.png",
                        "mimeType": "image/png",
                        "byteSize": "70",
                        "session": FULL,
                        "fileOriginType": "AI_GENERATED",
                    }
                ]
            }
        },
    )
    [meta] = gclient.list_file_metadata(CREDS, session=SESSION)
    assert (meta.file_id, meta.session, meta.byte_size, meta.origin) == ("5", FULL, 70, "AI_GENERATED")
    assert sent(rsp.calls[0])["listSessionFileMetadataRequest"] == {
        "name": SESSION,
        "filter": "file_origin_type = AI_GENERATED",
    }
    gclient.list_file_metadata(CREDS, session=SESSION, origin=None)
    assert "filter" not in sent(rsp.calls[1])["listSessionFileMetadataRequest"]


def test_download_falls_back_to_the_download_prefix_on_404(rsps, gclient) -> None:
    png = tiny_png()
    first = rsps.get(f"{API}/v1alpha/{FULL}:downloadFile", status=404, json={"error": {"code": 404}})
    second = rsps.get(f"{API}/download/v1alpha/{FULL}:downloadFile", body=png)
    assert gclient.download_file(CREDS, session=FULL, file_id="5") == png
    assert first.call_count == 1 and second.call_count == 1
    assert "fileId=5" in second.calls[0].request.url and "alt=media" in second.calls[0].request.url


def test_download_decodes_base64_text_bodies(rsps, gclient) -> None:
    png = tiny_png()
    rsps.get(f"{API}/v1alpha/{FULL}:downloadFile", body=base64.b64encode(png))
    assert gclient.download_file(CREDS, session=FULL, file_id="5") == png


def test_download_refuses_oversized_files(rsps, gclient) -> None:
    rsps.get(f"{API}/v1alpha/{FULL}:downloadFile", body=b"x" * 5000)
    with pytest.raises(InvalidRequest):
        gclient.download_file(CREDS, session=FULL, file_id="5", max_bytes=1000)


@pytest.mark.parametrize("data", [b"\x89PNG\r\n\x1a\nrest", b"plain text answer", b"", b"QUJDREVGR0g="])
def test_base64_decoding_leaves_other_bodies_alone(data: bytes) -> None:
    assert decode_base64_media(data) == data


def test_base64_decoding_recognises_jpeg_and_mp4() -> None:
    jpeg = b"\xff\xd8\xff\xe0" + bytes(20)
    mp4 = b"\x00\x00\x00\x18ftypisom" + bytes(20)
    assert decode_base64_media(base64.b64encode(jpeg)) == jpeg
    assert decode_base64_media(base64.b64encode(mp4)) == mp4


def test_redact_hides_credentials() -> None:
    headers = {"Authorization": "Bearer x.y.z", "Cookie": "__Secure-C_SES=abc", "accept": "*/*"}
    assert redact(headers) == {"Authorization": "[redacted]", "Cookie": "[redacted]", "accept": "*/*"}


def test_no_secret_reaches_the_logs(rsps, gclient, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    rsps.post(f"{BASE}/widgetCreateSession", status=403, json={"error": {"code": 403, "message": "no"}})
    with pytest.raises(PermissionDenied):
        gclient.create_session(CREDS)
    jwt = gclient.fetch_jwt(CREDS)
    text = caplog.text + " ".join(str(r.__dict__) for r in caplog.records)
    for secret in ("SES-SECRET", "OSES-SECRET", jwt, "ZXhhbXBsZS1obWFjLWtleS0wMTIzNDU2Nzg5IQ"):
        assert secret not in text
    assert "acct-1" in text  # the account key is logged as context


def test_each_proxy_gets_its_own_http_session(gclient) -> None:
    proxied = Credentials(key="p", team_id="t", csesidx="1", secure_c_ses="s", proxy="socks5://127.0.0.1:9")
    assert gclient._http(None) is gclient._http(None)
    assert gclient._http(proxied.proxy) is not gclient._http(None)
    assert gclient._http(proxied.proxy).proxies == {"http": proxied.proxy, "https": proxied.proxy}
    adapter = gclient._http(None).get_adapter("https://x")
    assert adapter._pool_maxsize == CONFIG.pool_maxsize
    assert gclient._http(None).verify is True
