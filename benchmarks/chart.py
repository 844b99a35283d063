"""``benchmarks.png``: req/s and p99 latency against concurrency, one line per server (matplotlib, Agg)."""

from __future__ import annotations

from pathlib import Path

from benchmarks.run import Results

P99_TARGET_MS = 50.0
FIXED_STYLE = {
    "ours": ("C0", "o"),
    "simple": ("C1", "D"),
    "seed": ("C3", "^"),
    "mlserver": ("C2", "v"),
    "bentoml": ("C5", "P"),
}


def draw(results: Results, path: Path) -> None:
    """Write the two-panel chart to ``path`` (log scales: the servers differ by orders of magnitude)."""
    import matplotlib

    matplotlib.use("Agg")  # no display: render straight to a file
    import matplotlib.pyplot as plt

    fig, (ax_rps, ax_p99) = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
    extra_colors = iter(["C4", "C6", "C7", "C8"])
    for server in results.servers:
        if not server.loads:
            continue
        xs = [r.concurrency for r in server.loads]
        # The same colour and marker for a server in every run's chart, whatever extra configurations are added.
        color, marker = FIXED_STYLE.get(server.spec.key) or (next(extra_colors, "C9"), "s")
        style = {"color": color, "marker": marker, "label": server.spec.label, "linewidth": 1.8}
        ax_rps.plot(xs, [r.rps for r in server.loads], **style)
        ax_p99.plot(xs, [r.p99_ms for r in server.loads], **style)
    ax_p99.axhline(P99_TARGET_MS, color="grey", linestyle="--", linewidth=1, label="p99 target at c=32 (50 ms)")
    concurrencies = list(results.config.concurrencies)
    for ax, title, unit in ((ax_rps, "Throughput", "requests / s"), (ax_p99, "p99 latency", "ms")):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(concurrencies, [str(c) for c in concurrencies])
        ax.set_xlabel("concurrent connections (wrk -c)" if "wrk" in results.generator else "concurrent connections")
        ax.set_ylabel(unit)
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
    ax_p99.legend(fontsize=8)
    fig.suptitle(f"One 28×28×1 MNIST image per request — {results.started_utc}", fontsize=10)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
