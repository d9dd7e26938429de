"""What the bench scripts share: the machine line, a quiet throw-away Airflow home, timings, RSS and CPU, tables.

Not a benchmark itself; the bench scripts import it (they run as scripts, so ``bench/`` is on
``sys.path``). Nothing here imports Airflow: the scripts set the
environment first, because Airflow reads its configuration when first imported.
"""

from __future__ import annotations

import datetime
import os
import platform
import resource
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def cpu_model() -> str:
    """The CPU model as /proc/cpuinfo names it ("unknown" off Linux)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def _commit() -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        )
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def machine_lines() -> list[str]:
    """Where and when the figures were taken, to print above a table."""
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return [
        f"date      {now}   commit {_commit()}",
        f"machine   {os.cpu_count()} cores (nproc {len(os.sched_getaffinity(0))}), {cpu_model()}",
        f"software  Python {platform.python_version()}, Airflow {_version('apache-airflow')}, "
        f"stripe {_version('stripe')}, {platform.system()} {platform.release()}",
    ]


@contextmanager
def airflow_home(prefix: str, log_level: str = "WARNING") -> Iterator[Path]:
    """A throw-away AIRFLOW_HOME (SQLite, no examples, quiet logs) set in ``os.environ`` before Airflow loads."""
    with tempfile.TemporaryDirectory(prefix=prefix) as home:
        os.environ.update(
            {
                "AIRFLOW_HOME": home,
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
                "AIRFLOW__LOGGING__LOGGING_LEVEL": log_level,
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
            }
        )
        yield Path(home)


def rss_kb(pid: int | str = "self") -> int:
    """Current resident set size of a process in KB (VmRSS), not the peak."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


def cpu_seconds() -> float:
    """User + system CPU seconds of this process so far, every thread included."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def open_fds(pid: int | str = "self") -> int:
    """How many file descriptors (sockets included) a process holds."""
    return len(os.listdir(f"/proc/{pid}/fd"))


def timed_ms(fn: Callable[[], object], repeat: int = 50) -> float:
    """The median wall time of ``fn()`` over ``repeat`` calls, in milliseconds."""
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return median(samples) * 1000


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def spread(values: Sequence[float], scale: float = 1.0, fmt: str = "{:.1f}") -> str:
    """``median (min-max)`` of ``values`` times ``scale``: the median to quote, the range to judge noise by."""
    return f"{fmt.format(median(values) * scale)} ({fmt.format(min(values) * scale)}-{fmt.format(max(values) * scale)})"


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table (pasteable into the README or an issue), columns padded for the terminal."""
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"

    return "\n".join([line(cells[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, cells[1:])])


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (read from /proc, children before grandchildren)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            parents.setdefault(ppid, []).append(int(entry))
    found, queue = [], [pid]
    while queue:
        current = queue.pop(0)
        found.append(current)
        queue += sorted(parents.get(current, []))
    return found


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of another process so far (all its threads; clock-tick resolution)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
