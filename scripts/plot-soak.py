#!/usr/bin/env python3
"""Plots a soak (`stoa bench ... --timeline N --json`): the server's RSS, CPU and the added latency's p99
over time, one point per timeline interval, and prints the figures the soak is judged by.

Usage: python3 scripts/plot-soak.py SOAK.json OUT.png   (installs matplotlib with pip if it is missing)
"""

import json
import subprocess
import sys

try:
    import matplotlib
except ImportError:
    subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet", "matplotlib"])
    import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

if len(sys.argv) != 3:
    sys.exit(__doc__)
report = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
points = report["timeline"]
minutes = [p["t_s"] / 60 for p in points]
fig, axes = plt.subplots(3, 1, figsize=(9, 8), sharex=True)
series = [
    ("server_rss_mb", "server RSS, MB"),
    ("server_cpu_pct", "server CPU, % of a core"),
    ("latency_p99_ms", "added latency p99, ms"),
]
for ax, (key, label) in zip(axes, series):
    ax.plot(minutes, [p.get(key) for p in points], marker=".", linewidth=1)
    ax.set_ylabel(label)
    ax.grid(True, alpha=0.3)
axes[-1].set_xlabel("minutes into the measuring window")
fig.suptitle(
    f"Soak: {report['joined']} listeners, {report['speakers']} speakers, {report['seconds'] / 60:.0f} min, "
    f"loss {report['loss_pct']:.4f} %"
)
fig.tight_layout()
fig.savefig(sys.argv[2], dpi=100)

after = [p for p in points if p["t_s"] >= 300]
if after:
    first, last = after[0]["server_rss_mb"], points[-1]["server_rss_mb"]
    print(f"RSS at 5 min {first:.1f} MB, at the end {last:.1f} MB: growth {100 * (last - first) / first:.2f} %")
print(f"loss {report['loss_pct']:.4f} %, latency p99 {report['latency_p99_ms']:.1f} ms")
print(f"drops counted in /metrics over the window: {report.get('metrics_drops_in_window')}")
print(f"wrote {sys.argv[2]}")
