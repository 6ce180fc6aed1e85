"""manage.py simulator : run the upstream simulator (a real HTTP server) for demos and local testing."""
from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from gemini_enterprise.simulator import main


class Command(BaseCommand):
    help = ("Run the Gemini Enterprise upstream simulator on loopback. Takes the same options as "
            "`python -m gemini_enterprise.simulator` (--port, --accounts FILE, --accept-any-account, ...).")

    def run_from_argv(self, argv: list[str]) -> None:
        # The simulator owns its argument parser; pass everything after the command name through.
        code = main(argv[2:])
        if code:
            raise CommandError(f"the simulator exited with status {code}", returncode=code)
