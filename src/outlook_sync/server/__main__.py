"""``python -m outlook_sync.server --config FILE worker|web|check``.

The same commands as ``outlook-sync server …``, usable without the console script
(container images, the test suite's process launcher).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from outlook_sync.cli import server_commands
from outlook_sync.cli.exit_codes import ExitCode
from outlook_sync.errors import OutlookSyncError


class _Context:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.environ = os.environ

    def say(self, text: str = "") -> None:
        print(text)

    def warn(self, text: str) -> None:
        print(text, file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m outlook_sync.server")
    parser.add_argument("--config", "-c", metavar="FILE")
    parser.add_argument("--verbose", "-v", action="count", default=0)
    parser.add_argument("--quiet", "-q", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)
    init = sub.add_parser("init")
    init.add_argument("path", nargs="?")
    init.add_argument("--force", action="store_true")
    init.set_defaults(handler=lambda ctx: server_commands.init_server(
        ctx, lambda _c: ExitCode.USAGE))
    server_commands.register(sub, init)
    # `python -m outlook_sync.server worker` means `outlook-sync server worker`
    words = list(sys.argv[1:] if argv is None else argv)
    for i, word in enumerate(words):
        if word in ("worker", "web", "check"):
            words.insert(i, "server")
            break
    args = parser.parse_args(words)
    if args.command == "init":
        args.server = True
    ctx = _Context(args)
    try:
        return int(args.handler(ctx))
    except OutlookSyncError as exc:
        ctx.warn(f"outlook-sync server: {exc}")
        return 4
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
