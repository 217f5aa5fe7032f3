"""scripts/bench.py (what `make bench` runs): the peak RSS it reports is the case's own."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="needs Linux /proc")
def test_peak_rss_of_a_child_is_its_own_not_the_parents():
    """Linux carries ru_maxrss over fork + exec: a case started by a parent that once held a big
    frame would report the parent's peak. The bench reads VmHWM, which starts afresh at exec."""
    big = bytearray(300 * 1024 * 1024)
    big[::4096] = b"\x01" * len(big[::4096])  # touch every page: 300 MB resident
    code = (
        "import resource, sys; sys.path.insert(0, 'scripts'); import bench; "
        "print(bench.peak_rss_mb(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    ).stdout.split()
    own, inherited = float(out[0]), float(out[1])
    del big
    assert inherited > 300  # what ru_maxrss says: the parent's peak
    assert 5 < own < 250  # the child's own (python + numpy)
