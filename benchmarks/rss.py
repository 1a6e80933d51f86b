"""Peak resident memory of the benchmark's own process (Linux), shared by the scripts."""

from __future__ import annotations

import resource
from pathlib import Path

__all__ = ["maxrss_mb", "reset_peak_rss"]


def maxrss_mb() -> float:
    """This process's peak RSS in MB (Linux reports kilobytes; the CI box is Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak_rss() -> bool:
    """Reset the peak RSS to the current RSS (Linux >= 4.0); ``False`` where unsupported."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True
