"""Typed values that cross the client's boundary: credentials, configuration, stream events, file records."""
from __future__ import annotations

from dataclasses import dataclass, field

from gemini_enterprise.errors import UpstreamError

DEFAULT_USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)


@dataclass(frozen=True)
class Credentials:
    """One Gemini Enterprise seat. `key` is a stable id used for caching (JWTs, locks); never a secret."""

    key: str
    team_id: str  # the upstream configId
    csesidx: str
    secure_c_ses: str = field(repr=False)
    host_c_oses: str = field(default="", repr=False)
    user_agent: str = DEFAULT_USER_AGENT
    proxy: str | None = field(default=None, repr=False)  # may embed a password


UPSTREAM_CLIENTS = ("lean", "requests")  # ClientConfig.upstream_client's choices


@dataclass(frozen=True)
class ClientConfig:
    """Where the upstream lives and how patient to be with it."""

    auth_url: str = "https://business.gemini.google"
    api_url: str = "https://biz-discoveryengine.googleapis.com"
    connect_timeout: float = 10.0
    read_timeout: float = 120.0  # longest silence tolerated inside a stream
    jwt_lifetime: int = 300
    jwt_refresh_after: float = 240.0  # renew a JWT once it is this old
    verify_tls: bool = True
    pool_maxsize: int = 1000  # connections kept per (proxy, host): one per concurrent stream
    language_code: str = "en-US"
    time_zone: str = "UTC"
    # "lean": direct calls (no proxy) over gemini_enterprise/http11.py; "requests": every call over requests.
    upstream_client: str = "lean"


@dataclass(frozen=True)
class ToolsSpec:
    """Which upstream tools a request enables; rendered into `streamAssistRequest.toolsSpec`."""

    web_grounding: bool = True
    image_generation: bool = False
    video_generation: bool = False

    def to_wire(self) -> dict:
        """The JSON object the upstream expects."""
        spec: dict = {}
        if self.web_grounding:
            spec["webGroundingSpec"] = {}
        spec["toolRegistry"] = "default_tool_registry"
        if self.image_generation:
            spec["imageGenerationSpec"] = {}
        if self.video_generation:
            spec["videoGenerationSpec"] = {}
        return spec


# ---- stream events -------------------------------------------------------------------------


@dataclass(frozen=True)
class TextDelta:
    """A fragment of the answer text, to append to what came before."""

    text: str


@dataclass(frozen=True)
class ThoughtDelta:
    """A fragment of the model's reasoning (`thought: true` parts)."""

    text: str


@dataclass(frozen=True)
class GeneratedFile:
    """A generated image/video (`content.file`); get bytes via list_file_metadata + download_file."""

    file_id: str
    mime_type: str
    name: str = ""


@dataclass(frozen=True)
class SessionInfo:
    """`sessionInfo` once it carries a session path (the full projects/... form when upstream sends it)."""

    session: str
    query_id: str = ""
    turn_id: str = ""


@dataclass(frozen=True)
class FinalState:
    """The last element's answer state: SUCCEEDED, FAILED or SKIPPED (with reasons)."""

    state: str
    skipped_reasons: tuple[str, ...] = ()
    answer_name: str = ""


@dataclass(frozen=True)
class StreamError:
    """A failure inside an HTTP-200 stream: an `error` element, a truncated or malformed array."""

    error: UpstreamError


@dataclass(frozen=True)
class StreamIdle:
    """Nothing arrived for a while (only with `idle_after`): the stream is still open and being read."""

    silent_for: float  # seconds since the last bytes


StreamEvent = TextDelta | ThoughtDelta | GeneratedFile | SessionInfo | FinalState | StreamError | StreamIdle


# ---- files ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ContextFile:
    """Result of widgetAddContextFile: the upstream id of an uploaded file, bound to one session."""

    file_id: str
    session: str
    token_count: int | None = None


@dataclass(frozen=True)
class FileMetadata:
    """One entry of widgetListSessionFileMetadata."""

    file_id: str
    name: str
    mime_type: str
    session: str  # full projects/... path, the one to download through
    byte_size: int | None = None
    origin: str = ""  # AI_GENERATED | USER_UPLOADED
