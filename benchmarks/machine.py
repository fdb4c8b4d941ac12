"""The machine a benchmark ran on, and writing one section of RESULTS.md."""

from __future__ import annotations

import datetime as dt
import os
import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path


def describe_machine() -> str:
    """CPU, cores, memory, OS and the versions that matter, on one line."""
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem_kb = next(int(line.split()[1]) for line in
                      Path("/proc/meminfo").read_text().splitlines()
                      if line.startswith("MemTotal"))
        memory = f"{mem_kb / 1024**2:.0f} GiB"
    except (OSError, StopIteration):
        memory = "unknown memory"
    versions = []
    # (name shown, distribution): capacity's distribution is named apart from its import name.
    for name, dist in (("capacity", "biomanufacturing-capacity"), ("pyomo", "pyomo"),
                       ("highspy", "highspy"), ("pulp", "pulp"), ("pyscipopt", "pyscipopt"),
                       ("gurobipy", "gurobipy")):
        try:
            versions.append(f"{name} {version(dist)}")
        except PackageNotFoundError:
            continue
    return (f"{cpu}, {os.cpu_count()} cores, {memory}, {platform.system()} "
            f"{platform.release()}, Python {platform.python_version()}; "
            + ", ".join(versions))


def replace_section(path: Path, key: str, body: str) -> None:
    """Write ``body`` between ``<!-- key:start -->`` and ``<!-- key:end -->`` in ``path``,
    stamped with the date and machine; other sections are kept."""
    start, end = f"<!-- {key}:start -->", f"<!-- {key}:end -->"
    stamp = (f"_Run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC on {describe_machine()}._")
    block = f"{start}\n{stamp}\n\n{body}\n{end}"
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + f"\n\n{block}\n"
    path.write_text(text)
