"""Command line: `python -m gemini_enterprise.simulator --port P --accounts FILE`."""
from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

from gemini_enterprise.simulator.login_state import VARIANT_NAMES
from gemini_enterprise.simulator.server import SimulatorServer
from gemini_enterprise.simulator.state import load_accounts

logger = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    """The CLI's arguments (reused by the Django management command)."""
    parser = argparse.ArgumentParser(prog="python -m gemini_enterprise.simulator",
                                     description="Simulated Gemini Enterprise upstream.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--accounts", metavar="FILE", help="business_gemini_session.json with the accounts")
    parser.add_argument("--accept-any-account", action="store_true",
                        help="accept any cookies/csesidx/team id (demo mode)")
    parser.add_argument("--fragment-delay", type=float, default=0.05, help="seconds between stream elements")
    parser.add_argument("--fragments", type=int, default=8, help="answer text fragments per reply")
    parser.add_argument("--thought-fragments", type=int, default=2, help="thought elements before the text")
    parser.add_argument("--login-lifetime", type=float, default=None, metavar="S",
                        help="seconds a login lasts before getoxsrf answers EXPIRED_SIGN_IN (default: forever)")
    parser.add_argument("--login-variant", choices=VARIANT_NAMES, default="a",
                        help="which candidates of the fact sheet the login pages use")
    parser.add_argument("--lmtp", metavar="SOCKET|HOST:PORT", help="LMTP server the one-time codes are mailed to")
    parser.add_argument("--log-level", default="INFO")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the simulator until interrupted."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    accounts = load_accounts(args.accounts) if args.accounts else []
    if not accounts and not args.accept_any_account:
        logger.warning("no accounts loaded: every login fails (use --accounts FILE or --accept-any-account)")
    server = SimulatorServer(accounts, host=args.host, port=args.port, fragment_delay=args.fragment_delay,
                             fragments=args.fragments, thought_fragments=args.thought_fragments,
                             accept_any_account=args.accept_any_account, login_lifetime=args.login_lifetime,
                             login_variant=args.login_variant, lmtp=args.lmtp)
    logger.info("%d account(s) loaded", len(accounts))
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        logger.info("stopped")
    return 0
