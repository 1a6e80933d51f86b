"""``python -m outlook_sync.testing.graph --port N``: run the Graph emulator in the foreground.

Any non-empty bearer token is accepted. Control endpoints for scripts:
``POST /_emulator/faults`` (``{"kind": "status", "status": 429, "retry_after": 2,
"times": 1, "path_contains": "/events"}``), ``POST /_emulator/expire-delta-tokens``,
``GET /_emulator/requests``, ``GET /_emulator/sent-mail``, ``POST /_emulator/reset-counts``.
"""

from __future__ import annotations

import argparse
import sys

from outlook_sync.testing.graph.server import GraphEmulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m outlook_sync.testing.graph", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--port", type=int, default=8765, help="TCP port (0 = any free port)")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind")
    args = parser.parse_args(argv)
    emulator = GraphEmulator(args.host, args.port)
    print(f"Graph emulator serving {emulator.base_url}  (Ctrl+C stops)", flush=True)
    try:
        emulator.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
