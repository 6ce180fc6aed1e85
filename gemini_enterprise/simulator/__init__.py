"""A real HTTP server that speaks the Gemini Enterprise upstream protocol (auth host + widget API host).

Start it from code::

    from gemini_enterprise.simulator import SimAccount, SimulatorServer
    sim = SimulatorServer([SimAccount(csesidx="1001", secure_c_ses="c", team_id="team-1")],
                          port=0, fragment_delay=0.01, fragments=5, thought_fragments=2).start()
    ...  # point ClientConfig(auth_url=sim.url, api_url=sim.url) at it
    sim.stop()

or from the shell:
``python -m gemini_enterprise.simulator --port 8765 --accounts business_gemini_session.json``
(``--accept-any-account`` for demos). Prompt directives (``[[sim:echo]]``, ``[[sim:fault=429_during]]``, ...)
and the control API (``POST /_sim/faults``, ``GET /_sim/stats``, ...) are documented in README.md next to
this file.
"""
from __future__ import annotations

from gemini_enterprise.simulator.cli import main
from gemini_enterprise.simulator.server import SimulatorServer
from gemini_enterprise.simulator.state import SimAccount, load_accounts

__all__ = ["SimAccount", "SimulatorServer", "load_accounts", "main"]
