"""``nurturelab validate`` on a large export, against a plain pandas ``read_csv`` of the same files.

    python benchmarks/bench_validate.py                       # 1,000,000 leads, 10,000,000 events
    python benchmarks/bench_validate.py --events 1000000      # a quick run
    python benchmarks/bench_validate.py --dir /tmp/big --keep # keep the files for another run

Target (issue 13): ``validate`` on 10,000,000 events in at most 60 s and 3 GB, and an error on the
file's last row still named by its line. Each command runs in its own process, timed by the wall
clock, its peak memory read from the kernel (``os.wait4``'s ``ru_maxrss``; the export is written
by a process of its own, since a forked child starts from its parent's size). The baseline is
``pandas.read_csv`` of the same two files in a process of its own, measured in the same run; the
ratio is printed beside each figure (the machine's load moves the seconds, much less the ratio).
The export is synthetic, built with numpy in the shape of the data contract (the SimPy simulation
is far too slow at this size), every timestamp in the past. Nothing here is a pass/fail test: the
figures are printed against their targets.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

START = np.datetime64("2025-01-01T00:00:00", "s")
SPAN_S = 300 * 86_400
SOURCES = np.array(["web_form", "paid_search", "referral", "partner", "event"])
INTENTS = np.array(["low", "medium", "high", ""])
# (type, name, channel)
KINDS = [("touch", "call_attempt", "call"), ("touch", "email", "email"), ("touch", "sms", "sms"),
         ("response", "reply", "email"), ("response", "connect", "call"),
         ("activity", "email_open", "email"), ("activity", "link_click", "email"),
         ("activity", "pricing_visit", "web"), ("stage", "contacted", "")]
SHARE = [0.2, 0.15, 0.1, 0.04, 0.03, 0.25, 0.1, 0.08, 0.05]


def _iso(seconds: np.ndarray) -> np.ndarray:
    return np.datetime_as_string(START + seconds.astype("timedelta64[s]"), unit="s",
                                 timezone="UTC")


def write_export(folder: Path, n_leads: int, n_events: int, seed: int = 1) -> tuple[Path, Path]:
    """A leads and an events CSV in the contract's column names; returns their paths."""
    rng = np.random.default_rng(seed)
    ids = np.char.add("L", np.char.zfill(np.arange(1, n_leads + 1).astype(str), 8))
    created = np.sort(rng.integers(0, SPAN_S, n_leads))
    fit = np.round(rng.random(n_leads), 3)
    leads = pa.table({
        "lead_id": ids,
        "created_at": _iso(created),
        "source": SOURCES[rng.choice(len(SOURCES), n_leads)],
        "fit": fit,
        "intent": INTENTS[rng.choice(len(INTENTS), n_leads)],
    })
    lead = rng.integers(0, n_leads, n_events)
    ts = np.minimum(created[lead] + rng.exponential(5 * 86_400, n_events).astype(np.int64),
                    SPAN_S + 30 * 86_400)
    order = np.argsort(ts, kind="stable")
    lead, ts = lead[order], ts[order]
    kind = rng.choice(len(KINDS), n_events, p=SHARE)
    types, names, channels = (np.array([k[i] for k in KINDS]) for i in range(3))
    step = rng.integers(0, 12, n_events).astype(str)
    step[types[kind] != "touch"] = ""
    events = pa.table({
        "lead_id": ids[lead],
        "ts": _iso(ts),
        "type": types[kind],
        "name": names[kind],
        "channel": channels[kind],
        "step": step,
        "rep_id": np.char.add("rep_", np.char.zfill(rng.integers(1, 40, n_events).astype(str),
                                                    2)),
        "arm": np.array(["a", "b"])[rng.integers(0, 2, n_events)],
    })
    opts = pacsv.WriteOptions(quoting_style="needed")
    paths = folder / "leads.csv", folder / "events.csv"
    for table, path in zip((leads, events), paths, strict=True):
        pacsv.write_csv(table, path, opts)
    return paths


def break_last_row(events: Path) -> int:
    """Replace the last row's timestamp with text that is not one; returns its line number."""
    with open(events, "rb+") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        fh.seek(max(0, size - 4096))
        tail = fh.read()
        start = size - len(tail) + tail.rstrip(b"\n").rfind(b"\n") + 1
        fh.seek(start)
        fields = fh.read().rstrip(b"\n").split(b",")
        fields[1] = b"not-a-time"
        fh.seek(start)
        fh.truncate()
        fh.write(b",".join(fields) + b"\n")
    with open(events, "rb") as fh:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 24), b""))


def measure(argv: list[str]) -> tuple[float, float, int, str]:
    """Wall seconds, peak resident GB, exit code and stderr of one process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = proc.stderr.read().decode()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    return seconds, usage.ru_maxrss / 1024**2, proc.returncode, err


def make(folder: Path, n_leads: int, n_events: int) -> None:
    """:func:`write_export` in a child process: a process's peak memory (``ru_maxrss``) starts
    from its parent's size when it is forked, so the measuring process must stay small."""
    subprocess.run([sys.executable, __file__, "--write-only", "--dir", str(folder), "--leads",
                    str(n_leads), "--events", str(n_events)], check=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--leads", type=int, default=None, help="default: events / 10")
    ap.add_argument("--dir", default=None, help="folder for the files (default: a temporary one)")
    ap.add_argument("--keep", action="store_true", help="reuse files already in --dir")
    ap.add_argument("--write-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    n_leads = args.leads or max(1, args.events // 10)
    if args.write_only:  # in a process of its own, so that this one stays small
        Path(args.dir).mkdir(parents=True, exist_ok=True)
        write_export(Path(args.dir), n_leads, args.events)
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.dir or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        leads, events = folder / "leads.csv", folder / "events.csv"
        t0 = time.perf_counter()
        if not (args.keep and leads.is_file() and events.is_file()):
            make(folder, n_leads, args.events)
        print(f"export: {n_leads:,d} leads, {args.events:,d} events "
              f"({events.stat().st_size / 1e9:.2f} GB of CSV, made in "
              f"{time.perf_counter() - t0:.0f} s) on {os.cpu_count()} cores")
        py = sys.executable
        base = measure([py, "-c", "import sys, pandas as pd; "
                        "[pd.read_csv(f) for f in sys.argv[1:]]", str(leads), str(events)])
        good = measure([py, "-m", "nurturelab.cli", "validate", "--leads", str(leads),
                        "--events", str(events)])
        if good[2] != 0:
            raise SystemExit(f"validate refused the good export:\n{good[3]}")
        line = break_last_row(events)
        bad = measure([py, "-m", "nurturelab.cli", "validate", "--leads", str(leads),
                       "--events", str(events)])
        named = bad[2] == 2 and f"line {line} 'not-a-time'" in bad[3]
        if args.keep and args.dir:
            make(folder, n_leads, args.events)  # leave a good export behind
    print(f"{'measure':<44} {'target':>14} {'measured':>16} {'/ read_csv':>11}")
    print(f"{'pandas read_csv of both files (baseline)':<44} {'':>14} "
          f"{base[0]:>7.1f} s {base[1]:>5.2f} GB {'1.00':>11}")
    for label, (sec, gb, _, _) in (("validate, good export", good),
                                   ("validate, last row broken", bad)):
        print(f"{label:<44} {'<= 60 s, 3 GB':>14} {sec:>7.1f} s {gb:>5.2f} GB "
              f"{sec / base[0]:>10.2f}x")
    print(f"the broken last row is named as line {line:,d}: {'yes' if named else 'NO'}")
    if not named:
        print(bad[3][:2000])


if __name__ == "__main__":
    main()
