"""The client against the simulator over real loopback sockets."""

from __future__ import annotations

import concurrent.futures
import json
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import requests

from gemini_enterprise.auth import mint_jwt
from gemini_enterprise.client import GeminiClient
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
from gemini_enterprise.simulator import SimulatorServer, load_accounts
from gemini_enterprise.simulator.cli import build_parser
from gemini_enterprise.types import (
    ClientConfig,
    Credentials,
    FinalState,
    GeneratedFile,
    SessionInfo,
    StreamError,
    TextDelta,
    ThoughtDelta,
    ToolsSpec,
)
from tests.polling import wait_until

ROOT = Path(__file__).resolve().parents[2]


def text_of(events) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def ask(client, creds, query, **kwargs):
    session = kwargs.pop("session", None) or client.create_session(creds)
    with client.stream_assist(creds, session=session, query=query, **kwargs) as stream:
        return list(stream)


def test_a_full_chat_streams_thoughts_then_text_then_the_final_state(client, creds) -> None:
    session = client.create_session(creds)
    assert session.startswith("collections/default_collection/engines/agentspace-engine/sessions/")
    assert 19 <= len(session.rsplit("/", 1)[1]) <= 20
    events = ask(client, creds, "What is 2+2? ünïcødé 😀", session=session, model_id="gemini-2.5-pro")
    kinds = [type(e).__name__ for e in events]
    assert kinds.index("ThoughtDelta") < kinds.index("TextDelta")
    assert max(i for i, k in enumerate(kinds) if k == "ThoughtDelta") < kinds.index("TextDelta")
    assert text_of(events) == "Simulated answer from gemini-2.5-pro. You said: What is 2+2? ünïcødé 😀"
    assert isinstance(events[-1], FinalState) and events[-1].state == "SUCCEEDED"
    info = [e for e in events if isinstance(e, SessionInfo)]
    assert info and info[0].session.startswith("projects/") and info[0].session.endswith(session)


def test_echo_returns_exactly_the_query(client, creds) -> None:
    query = 'line one\nline "two" {json} [x]\t end'
    assert text_of(ask(client, creds, f"[[sim:echo]] {query}")) == query


def test_the_first_event_arrives_while_the_simulator_still_sleeps(client, creds, sim) -> None:
    session = client.create_session(creds)
    started = time.monotonic()
    with client.stream_assist(creds, session=session, query="[[sim:delay=0.4]] hi") as stream:
        first = next(stream)
        elapsed = time.monotonic() - started
        assert isinstance(first, ThoughtDelta)
        assert elapsed < 0.3  # the whole answer takes > 2 s
        assert sim.stats()["streams"]["active"] >= 1


def test_an_abandoned_stream_is_closed_promptly(client, creds, sim) -> None:
    session = client.create_session(creds)
    stream = client.stream_assist(creds, session=session, query="[[sim:delay=0.2]] [[sim:fragments=50]] x")
    next(stream)
    stream.close()
    assert wait_until(lambda: sim.stats()["streams"]["active"] == 0, 3) is not None, (
        f"the simulator still streams 3 s after the client closed: {sim.stats()['streams']}")


def test_uploaded_files_are_used_and_named_in_the_answer(client, creds) -> None:
    session = client.create_session(creds)
    doc = client.add_context_file(
        creds, session=session, file_name="notes.txt", mime_type="text/plain", data=b"hello world"
    )
    assert doc.file_id.isdigit() and doc.token_count
    answer = text_of(ask(client, creds, "summarise", session=session, file_ids=[doc.file_id]))
    assert "notes.txt (11 bytes, text/plain)" in answer
    [meta] = client.list_file_metadata(creds, session=session, origin="USER_UPLOADED")
    assert meta.file_id == doc.file_id
    assert client.list_file_metadata(creds, session=session) == []


def test_a_file_from_another_session_is_rejected(client, creds) -> None:
    one, two = client.create_session(creds), client.create_session(creds)
    doc = client.add_context_file(creds, session=one, file_name="a.txt", mime_type="text/plain", data=b"a")
    with pytest.raises(InvalidRequest):
        client.stream_assist(creds, session=two, query="hi", file_ids=[doc.file_id])


def test_an_unsupported_file_type_is_the_requests_fault(client, creds) -> None:
    session = client.create_session(creds)
    with pytest.raises(InvalidRequest, match="Unsupported file type: application/x-msdownload"):
        client.add_context_file(
            creds, session=session, file_name="a.exe", mime_type="application/x-msdownload", data=b"MZ"
        )


def test_a_model_armor_block_on_upload_is_policy_blocked(client, creds) -> None:
    session = client.create_session(creds)
    with pytest.raises(PolicyBlocked):
        client.add_context_file(
            creds, session=session, file_name="a.txt", mime_type="text/plain", data=b"bad [[sim:armor]]"
        )


def test_a_session_of_another_account_is_forbidden(client, make_account) -> None:
    owner, other = make_account(), make_account()
    session = client.create_session(owner)
    with pytest.raises(PermissionDenied):
        client.stream_assist(other, session=session, query="hi")


def test_an_unknown_session_is_not_found(client, creds) -> None:
    with pytest.raises(NotFound):
        client.stream_assist(
            creds,
            session="collections/default_collection/engines/agentspace-engine/sessions/1234567890123456789",
            query="hi",
        )


@pytest.mark.parametrize(
    "tools", [ToolsSpec(image_generation=True), ToolsSpec(web_grounding=False, image_generation=True)]
)
def test_a_generated_image_is_listed_in_the_metadata_and_downloads(client, creds, tools) -> None:
    session = client.create_session(creds)
    query = "draw a cat" if tools.web_grounding else "a cat"
    events = ask(client, creds, query, session=session, tools=tools)
    files = [e for e in events if isinstance(e, GeneratedFile)]
    assert len(files) == 1 and files[0].mime_type == "image/png"  # the repeated id was deduplicated
    assert "Image generated by" in text_of(events)
    [meta] = client.list_file_metadata(creds, session=session)
    assert meta.file_id == files[0].file_id and meta.session.startswith("projects/")
    data = client.download_file(creds, session=meta.session, file_id=meta.file_id)
    assert data.startswith(b"\x89PNG") and len(data) == meta.byte_size


def test_a_late_image_is_not_streamed_and_is_listed_only_after_its_delay(client, creds) -> None:
    session = client.create_session(creds)
    events = ask(client, creds, "[[sim:image_late=0.6]] a cat", session=session,
                 tools=ToolsSpec(web_grounding=False, image_generation=True))
    assert not [e for e in events if isinstance(e, GeneratedFile)] and "Image generated by" in text_of(events)
    assert client.list_file_metadata(creds, session=session) == []
    assert wait_until(lambda: client.list_file_metadata(creds, session=session), 5) is not None
    [meta] = client.list_file_metadata(creds, session=session)
    assert client.download_file(creds, session=meta.session, file_id=meta.file_id).startswith(b"\x89PNG")


def test_a_missing_image_is_an_answer_in_words_only(client, creds, sim) -> None:
    sim.add_fault("image_missing", csesidx=creds.csesidx, count=1)
    session = client.create_session(creds)
    events = ask(client, creds, "[[sim:image]] a cat", session=session, tools=ToolsSpec(image_generation=True))
    assert not [e for e in events if isinstance(e, GeneratedFile)]
    assert text_of(events) == "I could not create an image for that request right now."
    assert client.list_file_metadata(creds, session=session) == []


def test_video_generation_serves_mp4_bytes(client, creds) -> None:
    session = client.create_session(creds)
    events = ask(
        client, creds, "a wave", session=session, tools=ToolsSpec(web_grounding=False, video_generation=True)
    )
    [video] = [e for e in events if isinstance(e, GeneratedFile)]
    assert video.mime_type == "video/mp4"
    [meta] = client.list_file_metadata(creds, session=session)
    assert client.download_file(creds, session=meta.session, file_id=video.file_id)[4:8] == b"ftyp"


def test_download_through_the_short_session_path_falls_back_and_base64_is_decoded(client, creds, sim) -> None:
    session = client.create_session(creds)
    [file] = [
        e for e in ask(client, creds, "[[sim:image]] x", session=session) if isinstance(e, GeneratedFile)
    ]
    [meta] = client.list_file_metadata(creds, session=session)
    sim.add_fault("base64", csesidx=creds.csesidx, count=1)
    assert client.download_file(creds, session=meta.session, file_id=file.file_id).startswith(b"\x89PNG")
    with pytest.raises(NotFound):  # the collections/... form 404s on both URL forms, as upstream does
        client.download_file(creds, session=session, file_id=file.file_id)


def test_50_concurrent_streams_each_get_their_own_answer(client, make_account, sim) -> None:
    accounts = [make_account() for _ in range(5)]
    sessions = {a.key: client.create_session(a) for a in accounts}

    def one(i: int) -> str:
        acct = accounts[i % 5]
        with client.stream_assist(
            acct, session=sessions[acct.key], query=f"[[sim:echo]] [[sim:delay=0.02]] n{i}"
        ) as stream:
            return text_of(stream)

    with concurrent.futures.ThreadPoolExecutor(50) as pool:
        results = list(pool.map(one, range(50)))
    assert results == [f"n{i}" for i in range(50)]
    assert sim.stats()["streams"]["peak"] >= 20


def test_the_jwt_is_refreshed_once_for_50_threads_against_the_simulator(client, creds, sim) -> None:
    barrier = threading.Barrier(50)

    def get() -> str:
        barrier.wait()
        return client.fetch_jwt(creds)

    with concurrent.futures.ThreadPoolExecutor(50) as pool:
        tokens = list(pool.map(lambda _: get(), range(50)))
    assert len(set(tokens)) == 1
    assert sim.stats()["by_account"][creds.csesidx]["getoxsrf"] == 1


def test_check_login_always_calls_getoxsrf(client, creds, sim) -> None:
    client.fetch_jwt(creds)
    client.check_login(creds)
    assert sim.stats()["by_account"][creds.csesidx]["getoxsrf"] == 2


def test_a_refused_jwt_is_refreshed_and_retried_once(client, creds, sim) -> None:
    client.create_session(creds)
    sim.add_fault("401", csesidx=creds.csesidx, count=1, endpoint="createSession")
    client.create_session(creds)
    assert sim.stats()["by_account"][creds.csesidx]["getoxsrf"] == 2


def test_a_tampered_jwt_is_refused(sim, creds, sim_config) -> None:
    with GeminiClient(sim_config) as client:
        good = client.fetch_jwt(creds)
    head, payload, signature = good.split(".")
    forged = mint_jwt(
        "c2lnbmluZy1idWctd3Jvbmcta2V5",
        json.loads(__import__("base64").urlsafe_b64decode(head + "==")).get("kid"),
        creds.csesidx,
        int(time.time()),
    )
    body = json.dumps(
        {
            "configId": creds.team_id,
            "additionalParams": {"token": "-"},
            "createSessionRequest": {"session": {"name": ""}},
        }
    )
    for token in (forged, f"{head}.{payload}.{signature[:-3]}AAA", good):
        rsp = requests.post(
            f"{sim.url}/v1alpha/locations/global/widgetCreateSession",
            data=body,
            headers={"authorization": f"Bearer {token}", "content-type": "application/json"},
        )
        assert rsp.status_code == (200 if token is good else 401)
        if token is not good:
            assert rsp.json()["error"]["status"] == "UNAUTHENTICATED"


def test_a_wrong_team_id_is_forbidden(client, creds) -> None:
    from dataclasses import replace

    with pytest.raises(PermissionDenied):
        client.create_session(replace(creds, team_id="some-other-team"))


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ("401", LoginRequired),
        ("403", LoginRequired),
        ("302", LoginRequired),
        ("missing_keys", LoginRequired),
        ("429", RateLimited),
        ("503", Unavailable),
    ],
)
def test_getoxsrf_faults_are_classified(client, creds, sim, fault, expected) -> None:
    sim.add_fault(fault, csesidx=creds.csesidx, endpoint="getoxsrf")
    with pytest.raises(expected):
        client.create_session(creds)


def test_wrong_cookies_need_a_login(client, creds) -> None:
    from dataclasses import replace

    with pytest.raises(LoginRequired):
        client.check_login(replace(creds, secure_c_ses="stale"))


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ("429_before", RateLimited),
        ("403", PermissionDenied),
        ("404_session", NotFound),
        ("500", Unavailable),
        ("503", Unavailable),
        ("401", AuthExpired),
    ],
)
def test_per_request_faults_raise_before_any_output(client, creds, fault, expected) -> None:
    session = client.create_session(creds)
    with pytest.raises(expected):
        client.stream_assist(creds, session=session, query=f"[[sim:fault={fault}]] hi")


def test_the_429_body_is_googles_resource_exhausted_error(client, creds, sim) -> None:
    session = client.create_session(creds)
    sim.add_fault("429", csesidx=creds.csesidx, endpoint="streamAssist", count=1)
    with pytest.raises(RateLimited) as info:
        client.stream_assist(creds, session=session, query="hi")
    assert info.value.reason == "LLM_OVERLOADED"


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ("429_during", RateLimited),
        ("truncate", Unavailable),
        ("malformed", Unavailable),
    ],
)
def test_in_stream_faults_end_with_an_error_event_after_partial_output(
    client, creds, fault, expected
) -> None:
    events = ask(client, creds, f"[[sim:fault={fault}]] a fairly long question for several fragments")
    assert text_of(events)  # partial output came first
    assert isinstance(events[-1], StreamError) and isinstance(events[-1].error, expected)
    assert not any(isinstance(e, FinalState) for e in events)


def test_account_faults_apply_only_to_that_account(client, make_account, sim) -> None:
    victim, bystander = make_account(), make_account()
    sim.add_fault("429_during", csesidx=victim.csesidx)
    assert isinstance(ask(client, victim, "hi")[-1], StreamError)
    assert isinstance(ask(client, bystander, "hi")[-1], FinalState)


def test_a_skipped_answer_reports_its_reason(client, creds) -> None:
    events = ask(client, creds, "[[sim:skipped]] something bad")
    assert events[-1] == FinalState(
        state="SKIPPED", skipped_reasons=("CUSTOMER_POLICY_VIOLATION",), answer_name=events[-1].answer_name
    )
    assert not text_of(events)


def test_a_thought_only_answer_has_no_text(client, creds) -> None:
    events = ask(client, creds, "[[sim:thought_only]] hmm")
    assert any(isinstance(e, ThoughtDelta) for e in events) and not text_of(events)


def test_a_utoken_only_stream_is_auth_expired(client, creds) -> None:
    events = ask(client, creds, "[[sim:utoken_only]] hi")
    assert len(events) == 1 and isinstance(events[0].error, AuthExpired)


def test_a_stream_that_hangs_mid_way_times_out_as_unavailable(sim, creds, sim_config) -> None:
    from dataclasses import replace

    with GeminiClient(replace(sim_config, read_timeout=0.3)) as client:
        events = ask(client, creds, "[[sim:hang_mid_stream=3]] tell me more")
    assert text_of(events)
    assert isinstance(events[-1], StreamError) and isinstance(events[-1].error, Unavailable)


def test_a_slow_first_byte_beyond_the_read_timeout_is_unavailable(sim, creds, sim_config) -> None:
    from dataclasses import replace

    with GeminiClient(replace(sim_config, read_timeout=0.3)) as client:
        session = client.create_session(creds)
        with pytest.raises(Unavailable):
            client.stream_assist(creds, session=session, query="[[sim:slow_first_byte=2]] hi")


def test_faults_are_added_used_and_cleared_through_the_control_api(sim, client, creds) -> None:
    def call(method: str, path: str, body: dict | None = None):
        return sim.control(method, path, body)

    call(
        "POST",
        "/_sim/faults",
        {"csesidx": creds.csesidx, "fault": "503", "count": 1, "endpoint": "createSession"},
    )
    assert call("GET", "/_sim/stats")["faults_pending"][0]["fault"] == "503"
    with pytest.raises(Unavailable):
        client.create_session(creds)
    client.create_session(creds)  # count=1: used up
    call("POST", "/_sim/faults", {"fault": "500"})
    call("DELETE", "/_sim/faults")
    client.create_session(creds)
    with pytest.raises(urllib.error.HTTPError):
        call("POST", "/_sim/faults", {"fault": "no_such_fault"})
    stats = call("GET", "/_sim/stats")
    assert stats["requests"]["createSession"] >= 3 and "connections" in stats


def test_accounts_load_from_the_original_tools_file(tmp_path) -> None:
    path = tmp_path / "business_gemini_session.json"
    path.write_text(
        json.dumps(
            {
                "proxy": "",
                "accounts": [
                    {
                        "team_id": "t1",
                        "secure_c_ses": "s1",
                        "host_c_oses": "",
                        "csesidx": 111,
                        "user_agent": "UA",
                        "available": True,
                    }
                ],
                "models": [],
            }
        )
    )
    [account] = load_accounts(path)
    assert (account.csesidx, account.team_id, account.secure_c_ses) == ("111", "t1", "s1")
    args = build_parser().parse_args(["--port", "0", "--accounts", str(path), "--fragment-delay", "0.1"])
    assert args.accounts == str(path) and args.fragment_delay == 0.1
    args = build_parser().parse_args(["--login-lifetime", "30", "--login-variant", "c", "--lmtp", "/run/lmtp"])
    assert (args.login_lifetime, args.login_variant, args.lmtp) == (30.0, "c", "/run/lmtp")


def test_accept_any_account_mode_serves_unknown_accounts() -> None:
    from gemini_enterprise.types import Credentials

    with SimulatorServer(accept_any_account=True, fragment_delay=0) as server:
        creds = Credentials(key="x", team_id="whatever", csesidx="777", secure_c_ses="anything")
        with GeminiClient(ClientConfig(auth_url=server.url, api_url=server.url)) as client:
            assert text_of(ask(client, creds, "[[sim:echo]] ok")) == "ok"


def _listening_url(process: subprocess.Popen) -> str:
    lines = []
    for line in process.stderr:
        lines.append(line)
        if match := re.search(r"listening on (http://\S+)", line):
            return match.group(1)
    pytest.fail("the simulator exited before listening:\n" + "".join(lines))


@pytest.mark.parametrize("python", [pytest.param(sys.executable, id="this-python"), "python3.11"])
def test_the_simulator_runs_on_the_standard_library_alone_as_the_readme_starts_it(python) -> None:
    # README's "Try it without Google" starts it with the system python3, before anything is installed.
    interpreter = shutil.which(python)
    if interpreter is None:
        pytest.skip(f"{python} is not installed")
    process = subprocess.Popen([interpreter, "-E", "-S", "-m", "gemini_enterprise.simulator", "--port", "0",
                                "--fragment-delay", "0", "--accounts", "examples/demo_config.json"],
                               cwd=ROOT, stderr=subprocess.PIPE, text=True)
    try:
        url = _listening_url(process)
        demo_seat = Credentials(key="demo", team_id="00000000-0000-4000-8000-000000000001", csesidx="1000000001",
                                secure_c_ses="demo-session-cookie-one", host_c_oses="demo-host-cookie-one")
        with GeminiClient(ClientConfig(auth_url=url, api_url=url)) as client:
            assert text_of(ask(client, demo_seat, "[[sim:echo]] hello")) == "hello"
    finally:
        process.terminate()
        process.wait(timeout=10)
