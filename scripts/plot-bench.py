#!/usr/bin/env python3
"""Plots the benchmark series (scripts/bench-series) for BENCHMARKS.md.

Reads bench-results/series.jsonl and writes bench-results/capacity.png: per listener count, the medians of
the runs for server CPU and memory per listener, the bench's CPU beside the server's, and the packets per
second against the raw UDP ceiling. Also prints the medians as a Markdown table.

Usage: python3 scripts/plot-bench.py   (installs matplotlib with pip if it is missing)
"""

import json
import statistics
import subprocess
import sys
from pathlib import Path

try:
    import matplotlib
except ImportError:
    subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet", "matplotlib"])
    import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

root = Path(__file__).resolve().parent.parent
rows = [json.loads(line) for line in (root / "bench-results/series.jsonl").read_text().splitlines() if line.strip()]
sfu = {}
raw = {}
for r in rows:
    (raw if r.get("mode") == "raw_udp" else sfu).setdefault(r["listeners"], []).append(r)


def med(runs, key):
    return statistics.median(r[key] for r in runs)


sizes = sorted(sfu)
keys = [
    "joined", "loss_pct", "join_p50_ms", "join_p99_ms", "latency_p50_ms", "latency_p99_ms",
    "server_cpu_pct", "server_rss_mb", "server_pps_out", "bench_cpu_pct",
]
print("| listeners | runs | joined | loss % | join p50 / p99 ms | latency p50 / p99 ms | server CPU % | "
      "server RSS MB | packets out/s | bench CPU % | raw UDP ceiling pps | SFU / ceiling | "
      "raw UDP at the same rate, CPU % | (server + bench) / raw |")
print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for n in sizes:
    m = {k: med(sfu[n], k) for k in keys}
    ceiling = med(raw[n], "ceiling_pps") if n in raw else float("nan")
    paced = med(raw[n], "paced_cpu_pct") if n in raw else float("nan")
    print(f"| {n:,} | {len(sfu[n])} | {m['joined']:.0f} | {m['loss_pct']:.3f} | {m['join_p50_ms']:.0f} / "
          f"{m['join_p99_ms']:.0f} | {m['latency_p50_ms']:.1f} / {m['latency_p99_ms']:.1f} | "
          f"{m['server_cpu_pct']:.1f} | {m['server_rss_mb']:.0f} | {m['server_pps_out']:,.0f} | "
          f"{m['bench_cpu_pct']:.1f} | {ceiling:,.0f} | {m['server_pps_out'] / ceiling:.1%} | {paced:.1f} | "
          f"{(m['server_cpu_pct'] + m['bench_cpu_pct']) / paced:.1f}x |")

fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
x = sizes
cpu_per = [med(sfu[n], "server_cpu_pct") / n * 1000 for n in x]
bench_per = [med(sfu[n], "bench_cpu_pct") / n * 1000 for n in x]
rss_per = [med(sfu[n], "server_rss_mb") / n * 1024 for n in x]
axes[0].plot(x, cpu_per, "o-", label="server")
axes[0].plot(x, bench_per, "s--", label="bench (load generator)")
axes[0].set_title("CPU per 1,000 listeners (% of one core)")
axes[0].set_xlabel("listeners")
axes[0].legend()
axes[1].plot(x, rss_per, "o-", color="tab:green")
axes[1].set_title("Server memory per listener (KiB RSS)")
axes[1].set_xlabel("listeners")
axes[2].plot(x, [med(sfu[n], "server_pps_out") for n in x], "o-", label="SFU packets out/s")
axes[2].plot([n for n in x if n in raw], [med(raw[n], "ceiling_pps") for n in x if n in raw], "s--",
             label="raw UDP ceiling (kernel)")
axes[2].set_title("Packets per second")
axes[2].set_xlabel("listeners")
axes[2].legend()
for ax in axes:
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
fig.suptitle("stoa bench: 5 speakers, medians of runs, bench and server on the same 2 cores")
fig.tight_layout()
out = root / "bench-results/capacity.png"
fig.savefig(out, dpi=100)
print(f"\nwrote {out.relative_to(root)}", file=sys.stderr)
