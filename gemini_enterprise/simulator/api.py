"""The simulated widget methods, the downloads and the /_sim control API."""
from __future__ import annotations

import base64
import datetime
import json
import re
import time
from typing import TYPE_CHECKING, Any

from gemini_enterprise.simulator import login_control, media
from gemini_enterprise.simulator.httperrors import HttpFault, decode_b64, google_error
from gemini_enterprise.simulator.scenario import (
    IMAGE_TEXT,
    NO_IMAGE_TEXT,
    VIDEO_TEXT,
    StreamPlan,
    answer_text,
    parse_scenario,
    plan_elements,
    wants_media,
)
from gemini_enterprise.simulator.state import (
    FULL_SESSION_PREFIX,
    PROJECT_NUMBER,
    SESSION_PREFIX,
    STREAM_FAULTS,
    FaultRule,
    SimAccount,
    SimSession,
    account_from_row,
)
from gemini_enterprise.simulator.toolcalls import answer_with_calls, read_tool_plan, visible_query

if TYPE_CHECKING:
    from gemini_enterprise.simulator.handler import SimHandler

SESSION_RE = re.compile(r"^(?:projects/(\d+)/locations/global/)?collections/default_collection/engines/"
                        r"agentspace-engine/sessions/(\d+)$")
ORIGIN_FILTER = re.compile(r"file_origin_type\s*=\s*([A-Z_]+)")
SUPPORTED_MIME = re.compile(r"^(text/[\w.+-]+|image/(png|jpeg|webp|gif|heic|heif)|application/(pdf|json|xml)"
                            r"|audio/[\w.+-]+|video/(mp4|mpeg|webm|quicktime))$")
PRE_STREAM_FAULTS = ("401", "403", "404_session", "429", "429_before", "429_quota", "400", "500", "503")


def _fault(code: int, message: str, **kwargs: Any) -> HttpFault:
    return HttpFault(code, message, **kwargs)


def resolve_session(handler: SimHandler, account: SimAccount, name: Any, *,
                    full_only: bool = False) -> SimSession:
    """The caller's session by any accepted name form; 404 unknown, 403 someone else's."""
    match = SESSION_RE.match(name) if isinstance(name, str) else None
    if match is None or (match.group(1) not in (None, PROJECT_NUMBER)) or (full_only and not match.group(1)):
        raise _fault(404, "Session not found.")
    session = handler.server.sim.sessions.get(match.group(2))
    if session is None:
        raise _fault(404, f"Session {match.group(2)} not found.")
    if session.csesidx != account.csesidx:
        raise _fault(403, "Session is not owned by the provided user.")
    return session


# ---- widget methods -----------------------------------------------------------------------------


def widget_createSession(handler: SimHandler, account: SimAccount, request: dict,  # noqa: N802
                         rule: FaultRule | None) -> None:
    """Create a session; any client-supplied name is ignored."""
    session = handler.server.sim.create_session(account.csesidx)
    now = datetime.datetime.now(datetime.UTC).isoformat().replace("+00:00", "Z")
    handler.send_json(200, {"session": {"name": SESSION_PREFIX + session.session_id, "displayName": "",
                                        "startTime": now, "state": "IN_PROGRESS"}})


def widget_addContextFile(handler: SimHandler, account: SimAccount, request: dict,  # noqa: N802
                          rule: FaultRule | None) -> None:
    """Store an uploaded file in its session."""
    session = resolve_session(handler, account, request.get("name"))
    mime = str(request.get("mimeType") or "")
    if not SUPPORTED_MIME.match(mime):
        raise _fault(400, f"Unsupported file type: {mime}")
    data = decode_b64(request.get("fileContents"))
    if (rule is not None and rule.fault == "armor") or b"[[sim:armor]]" in data:
        details = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "MODEL_ARMOR_VIOLATION",
                    "domain": "discoveryengine.googleapis.com", "metadata": {"details": "simulated"}}]
        raise _fault(400, "", body=google_error(400, "Content blocked by Model Armor.", details=details))
    file = handler.server.sim.add_file(session, name=str(request.get("fileName") or "upload"), mime_type=mime,
                                       data=data, origin="USER_UPLOADED")
    handler.send_json(200, {"addContextFileResponse": {"session": FULL_SESSION_PREFIX + session.session_id,
                                                       "fileId": file.file_id,
                                                       "tokenCount": str(file.token_count)}})


def widget_listSessionFileMetadata(handler: SimHandler, account: SimAccount, request: dict,  # noqa: N802
                                   rule: FaultRule | None) -> None:
    """The session's files, honouring the file_origin_type filter."""
    session = resolve_session(handler, account, request.get("name"))
    match = ORIGIN_FILTER.search(str(request.get("filter") or ""))
    with handler.server.sim.lock:
        files = list(session.files.values())
    items = [_metadata(session, f) for f in files if f.listed and (match is None or f.origin == match.group(1))]
    handler.send_json(200, {"listSessionFileMetadataResponse": {"fileMetadata": items}})


def _metadata(session: SimSession, file: Any) -> dict[str, Any]:
    full = FULL_SESSION_PREFIX + session.session_id
    return {"fileId": file.file_id, "name": file.name, "mimeType": file.mime_type,
            "byteSize": str(len(file.data)), "tokenCount": str(file.token_count),
            "fileOriginType": file.origin,
            "session": full, "quotaPercentage": 0.01,
            # Deliberately the "wrong" URI real upstream returns: clients must build their own.
            "downloadUri": f"https://discoveryengine.googleapis.com/v1/{full}:downloadFile?file_id={file.file_id}"}


def widget_streamAssist(handler: SimHandler, account: SimAccount, request: dict,  # noqa: N802
                        rule: FaultRule | None) -> None:
    """Answer with a streamed JSON array (see scenario.plan_elements)."""
    server = handler.server
    session = resolve_session(handler, account, request.get("session"))
    parts = (request.get("query") or {}).get("parts") or []
    text = "".join(str(p.get("text", "")) for p in parts if isinstance(p, dict))
    tool_plan, text = read_tool_plan(text, session.pending_tools)
    scenario = parse_scenario(text, fragments=server.fragments, thoughts=server.thought_fragments,
                              delay=server.fragment_delay)
    if rule is not None and rule.fault in STREAM_FAULTS:
        scenario.faults[rule.fault] = rule.arg
        scenario.image = scenario.image or rule.fault in ("image", "image_late")
        scenario.video = scenario.video or rule.fault == "video"
    if "slow_first_byte" in scenario.faults:
        server.stopping.wait(_seconds(scenario.faults["slow_first_byte"]))
    for name in PRE_STREAM_FAULTS:
        if name in scenario.faults:
            handler.apply_generic_fault(FaultRule(fault=name, arg=scenario.faults[name]))
    files = _attached_files(session, request.get("fileIds") or [])
    wants_media(scenario, request.get("toolsSpec") or {}, scenario.clean_query)
    model = str((request.get("assistGenerationConfig") or {}).get("modelId") or "auto")
    generated = _generate_media(handler, session, scenario)
    texts = ([IMAGE_TEXT] if scenario.image else []) + ([VIDEO_TEXT] if scenario.video else []) + \
        ([NO_IMAGE_TEXT] if "image_missing" in scenario.faults else [])
    scenario.clean_query = visible_query(scenario.clean_query, tool_plan.marker)
    answer = " ".join(texts) if texts else answer_text(scenario, model, files)
    if tool_plan.calls:
        answer, scenario.extra_thought, owed = answer_with_calls(tool_plan)
        session.pending_tools = tool_plan if owed else None
    session.turns += 1
    plan = StreamPlan(scenario=scenario, text=answer, session_path=FULL_SESSION_PREFIX + session.session_id,
                      generated=generated)
    _stream(handler, plan)


def _attached_files(session: SimSession, file_ids: list) -> list:
    files = []
    for file_id in file_ids:
        file = session.files.get(str(file_id))
        if file is None:
            raise _fault(400, f"File {file_id} is not part of this session.")
        files.append(file)
    return files


def _generate_media(handler: SimHandler, session: SimSession, scenario: Any) -> list:
    sim, out = handler.server.sim, []
    if scenario.image:
        image = sim.add_file(session, name="generated_image.png", mime_type="image/png", data=media.tiny_png(),
                             origin="AI_GENERATED")
        if "image_late" in scenario.faults:  # generation outlives the answer: listed only after a while
            image.listed_from = time.monotonic() + _seconds(scenario.faults["image_late"], 2.0)
        out.append(image)
    if scenario.video:
        out.append(sim.add_file(session, name="generated_video.mp4", mime_type="video/mp4",
                                data=media.fake_mp4(), origin="AI_GENERATED"))
    return out


def _stream(handler: SimHandler, plan: StreamPlan) -> None:
    server, sim = handler.server, handler.server.sim
    sim.gauge("streams", +1)
    try:
        handler.start_chunked()
        if "utoken_only" in plan.scenario.faults:
            handler.write_chunk(b'[{\n  "uToken": "' + b"u" * 24 + b'"\n}\n]')
            handler.end_chunked()
            return
        separator = b"["
        for action, value in plan_elements(plan):
            if action == "sleep":
                if value > 0 and server.pause(value):
                    handler.close_connection = True
                    return
            elif action == "truncate":
                handler.end_chunked()
                handler.close_connection = True
                return
            else:
                text = value if action == "raw" else json.dumps(value, indent=2, ensure_ascii=False)
                handler.write_chunk(separator + text.encode("utf-8"))
                separator = b"\n,\r\n"
        handler.write_chunk(b"\n]")
        handler.end_chunked()
    finally:
        sim.gauge("streams", -1)


def _seconds(value: str | None, default: float = 5.0) -> float:
    try:
        return max(0.0, float(value)) if value else default
    except ValueError:
        return default


# ---- downloads ----------------------------------------------------------------------------------


def download(handler: SimHandler, account: SimAccount, path: str, *, base64_text: bool) -> None:
    """Serve file bytes at /v1alpha/<projects path>:downloadFile and /download/v1alpha/...; alt=media."""
    name = path.removeprefix("/download").removeprefix("/v1alpha/").removesuffix(":downloadFile")
    session = resolve_session(handler, account, name, full_only=True)
    file = session.files.get(handler.query.get("fileId", ""))
    if file is None:
        raise _fault(404, "File not found in this session.")
    if handler.query.get("alt") != "media":
        handler.send_json(200, _metadata(session, file))
        return
    if base64_text:
        handler.send_bytes(200, base64.b64encode(file.data), "text/plain")
    else:
        handler.send_bytes(200, file.data, file.mime_type)


# ---- control API --------------------------------------------------------------------------------


def control(handler: SimHandler, verb: str, path: str) -> None:
    """GET /_sim/stats, POST|DELETE /_sim/faults, POST /_sim/reset, POST /_sim/accounts, GET /_sim/health,
    GET|POST /_sim/login, GET /_sim/login/mail."""
    sim = handler.server.sim
    body = _json_or_400(handler.body)
    if path == "/_sim/stats" and verb == "GET":
        handler.send_json(200, sim.snapshot())
    elif path == "/_sim/health" and verb == "GET":
        handler.send_json(200, {"ok": True})
    elif path == "/_sim/faults" and verb == "POST":
        count = body.get("count")
        try:
            rule_id = sim.add_fault(str(body.get("fault", "")), csesidx=body.get("csesidx"),
                                    count=int(count) if count is not None else None,
                                    endpoint=body.get("endpoint"))
        except (TypeError, ValueError) as exc:
            raise _fault(400, str(exc)) from None
        handler.send_json(200, {"id": rule_id})
    elif path == "/_sim/faults" and verb == "DELETE":
        sim.clear_faults(handler.query.get("csesidx") or body.get("csesidx"))
        handler.send_json(200, {"ok": True})
    elif path.startswith("/_sim/login"):
        login_control.control(handler, verb, path, body)
    elif path == "/_sim/reset" and verb == "POST":
        handler.server.reset(sessions=bool(body.get("sessions")))
        handler.send_json(200, {"ok": True})
    elif path == "/_sim/accounts" and verb == "POST":
        rows = body.get("accounts", [body])
        try:
            accounts = [account_from_row(row) for row in rows]
        except (KeyError, TypeError, AttributeError, ValueError):
            raise _fault(400, "each account needs csesidx and secure_c_ses (README: Control API)") from None
        for account in accounts:
            sim.add_account(account)
        handler.send_json(200, {"ok": True, "accounts": len(sim.accounts)})
    else:
        raise _fault(404, f"No control route {verb} {path}")


def _json_or_400(raw: bytes) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        raise _fault(400, "body must be JSON") from None
    if not isinstance(value, dict):
        raise _fault(400, "body must be a JSON object")
    return value
