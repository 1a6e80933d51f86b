"""``python -m outlook_sync.cli``: the same as the ``outlook-sync`` command."""

import sys

from outlook_sync.cli import main

sys.exit(main())
