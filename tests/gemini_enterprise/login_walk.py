"""Walking the simulator's login pages with plain HTTP (requests), as a browser without scripts would.

`requests` will not send `Secure` cookies over http://, so the walk carries the session cookies itself.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import requests

from gemini_enterprise.simulator import SimulatorServer

SEND_CODE = "/_/AccountVerificationUi/data/batchexecute"
XSRF_META = re.compile(r'<meta name="xsrf-token" content="([^"]+)"')
XSRF_INPUT = re.compile(r'<input type="hidden" name="xsrfToken" value="([^"]+)"')
ATTEMPT = re.compile(r"oobSession=([\w-]+)")


@dataclass
class LoginWalk:
    """One walk through the pages for one email; each step returns the last response."""

    sim: SimulatorServer
    email: str
    http: requests.Session = field(default_factory=requests.Session)
    attempt: str = ""
    cookies: dict[str, str] = field(default_factory=dict)

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.http.get(self.sim.url + path, cookies=self.cookies, timeout=10, **kwargs)

    def post(self, path: str, **kwargs) -> requests.Response:
        return self.http.post(self.sim.url + path, cookies=self.cookies, timeout=10, **kwargs)

    def xsrf_token(self) -> str:
        page = self.get("/login", params={"continueUrl": "https://business.gemini.google/"}).text
        match = XSRF_META.search(page) or XSRF_INPUT.search(page)
        assert match, "no XSRF token on the login page"
        return match.group(1)

    def submit_email(self, *, by_form: bool = False, token: str | None = None) -> requests.Response:
        """The direct URL (default) or the login form; follows to the verify page (or wherever it ends)."""
        fields = {"continueUrl": "https://business.gemini.google/", "loginHint": self.email,
                  "xsrfToken": token if token is not None else self.xsrf_token()}
        if by_form:
            resp = self.post("/login/email", data=fields)
        else:
            resp = self.get("/login/email", params=fields)
        match = ATTEMPT.search(resp.url)
        self.attempt = match.group(1) if match else ""
        return resp

    def send_code(self) -> requests.Response:
        """What the Send code button (and Resend) call."""
        return self.post(SEND_CODE, params={"rpcids": "SendEmailOtp", "oobSession": self.attempt},
                         data={"f.req": '[[["SendEmailOtp","[]",null,"generic"]]]'})

    def newest_code(self) -> str:
        codes = [m["code"] for m in self.sim.mails(self.email) if m["code"]]
        assert codes, f"no code was mailed to {self.email}"
        return codes[-1]

    def verify(self, code: str, *, field_name: str = "pinInput") -> requests.Response:
        """Type the code; on success keep the new cookies (the redirect is not followed)."""
        resp = self.post("/v1/verify-oob-code", params={"oobSession": self.attempt},
                         data={"oobSession": self.attempt, field_name: code}, allow_redirects=False)
        self.cookies.update({c.name: c.value for c in resp.cookies})
        return resp

    def log_in(self) -> requests.Response:
        """The whole walk with the default variant; returns the verify response (302 on success)."""
        self.submit_email()
        self.send_code()
        return self.verify(self.newest_code())


def getoxsrf(sim: SimulatorServer, csesidx: str, c_ses: str, c_oses: str = "") -> requests.Response:
    """The token call a gateway makes with a seat's cookies."""
    cookie = f"__Secure-C_SES={c_ses}" + (f"; __Host-C_OSES={c_oses}" if c_oses else "")
    return requests.get(f"{sim.url}/auth/getoxsrf", params={"csesidx": csesidx}, headers={"Cookie": cookie},
                        timeout=10)
