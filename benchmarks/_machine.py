"""What the benchmark scripts write beside their tables: the machine, its load, versions."""

from __future__ import annotations

import datetime as dt
import os
import platform
import re
from pathlib import Path

import numpy as np
import pandas as pd
import sklearn
import threadpoolctl

import mldebug_widgets as mdw

ROOT = Path(__file__).resolve().parents[1]


def load_average() -> str:
    if not hasattr(os, "getloadavg"):
        return "?"
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def machine_info(load_start: str, **versions: str) -> list[str]:
    """Lines describing the run; ``versions`` adds packages, e.g. ``bqplot="0.13.1"``."""
    cpu = platform.processor() or platform.machine()
    try:
        text = Path("/proc/cpuinfo").read_text()
        found = re.search(r"model name\s*:\s*(.+)", text)
        cpu = found.group(1).strip() if found else cpu
    except OSError:
        pass
    source = Path(mdw.__file__).resolve().parent
    where = "this checkout" if source.is_relative_to(ROOT) else f"imported from {source}"
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "?"
    extra = "".join(f"{name} {version}, " for name, version in versions.items())
    return [
        f"date: {dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}",
        f"machine: {cpu}, {os.cpu_count()} CPUs ({usable} usable), {platform.system()} "
        f"{platform.release()}",
        f"load average (1, 5, 15 min) at the start: {load_start}; at the end: "
        f"{load_average()} (other work shares the CPUs)",
        f"python {platform.python_version()}, numpy {np.__version__}, pandas {pd.__version__}, "
        f"scikit-learn {sklearn.__version__}, {extra}threadpoolctl {threadpoolctl.__version__}, "
        f"mldebug_widgets {mdw.__version__} ({where})",
    ]


DOCS = ROOT / "docs" / "benchmarks.md"


def write_docs(name: str, section: str) -> None:
    """Replace the section between ``<!-- name:start -->`` and ``<!-- name:end -->``."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    text = DOCS.read_text() if DOCS.exists() else (
        "# Benchmarks\n\nTimings of mldebug_widgets against its peers and against the physical "
        "limit (one predict call). Each section is written by the script named in its title; "
        "see `benchmarks/README.md`.\n")
    block = f"{start}\n{section}\n{end}"
    if start in text and end in text:
        text = text[:text.index(start)] + block + text[text.index(end) + len(end):]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    DOCS.write_text(text)
