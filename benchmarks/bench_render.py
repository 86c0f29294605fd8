"""Markdown tables and an optional matplotlib plot for the benchmark results."""

from __future__ import annotations

from pathlib import Path
from typing import Any

METHODS = (("mip", "MIP"), ("random5", "random-5"), ("random16k", "random-16K"), ("exhaustive", "exhaustive"),
           ("long", "long search"))
MARKERS = {"mip": "o", "random5": "v", "random16k": "s", "exhaustive": "D", "long": "x"}


def random_label(samples: int) -> str:
    """``random-16K`` for the paper-scale run, ``random-1000`` for a quick one."""
    return f"random-{samples // 1000}K" if samples % 1000 == 0 and samples >= 10_000 else f"random-{samples}"


def method_labels(samples: int) -> dict[str, str]:
    labels = dict(METHODS)
    labels["random16k"] = random_label(samples)
    return labels


def _si(value: float | None, unit: str = "") -> str:
    if value is None:
        return "—"
    for scale, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.3g} {prefix}{unit}".strip()
    return f"{value:.3g} {unit}".strip()


def _energy(pj: float | None) -> str:
    if pj is None:
        return "—"
    for scale, unit in ((1e12, "J"), (1e9, "mJ"), (1e6, "uJ"), (1e3, "nJ")):
        if abs(pj) >= scale:
            return f"{pj / scale:.3g} {unit}"
    return f"{pj:.3g} pJ"


def _ratio(a: float | None, b: float | None) -> str:
    return "—" if a is None or not b else f"{a / b:.2f}x"


def _layer_table(run: dict[str, Any]) -> list[str]:
    lines = ["| # | layer | x | bound cyc | MIP cyc | MIP/bnd | r5/MIP | r16K/MIP | long/MIP | MIP energy | "
             "E/bnd | MIP EDP | solve s | gap |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in run["layers"]:
        m = row["methods"]
        mip = m["mip"]
        b = row["bounds"]

        def cyc(name: str, m: dict[str, Any] = m) -> float | None:
            entry = m.get(name)
            return None if entry is None else float(entry["cycles"])

        gap = mip.get("gap")
        lines.append(
            f"| {row['index']} | {row['name']} | {row['multiplicity']} | {_si(b['latency_cycles'])} | "
            f"{_si(mip['cycles'])} | {_ratio(mip['cycles'], b['latency_cycles'])} | {_ratio(cyc('random5'), mip['cycles'])} | "
            f"{_ratio(cyc('random16k'), mip['cycles'])} | {_ratio(cyc('long'), mip['cycles'])} | "
            f"{_energy(mip['energy_pj'])} | {_ratio(mip['energy_pj'], b['energy_pj'])} | {_si(mip['edp'])} | "
            f"{mip['solve_time_s']:.2f} | {'—' if gap is None else f'{100 * gap:.1f}%'} |")
    return lines


def _totals_table(run: dict[str, Any], labels: dict[str, str]) -> list[str]:
    tot = run["totals"]
    lines = ["| schedule | cycles | vs bound | energy | vs bound | EDP (cycles x pJ) |", "|---|---|---|---|---|---|",
             f"| bound | {_si(tot['bound_latency_cycles'])} | 1.00x | {_energy(tot['bound_energy_pj'])} | "
             f"1.00x | {_si(tot['bound_latency_cycles'] * tot['bound_energy_pj'])} |"]
    for key, label in labels.items():
        t = tot.get(key)
        if t is None:
            continue
        lines.append(f"| {label} | {_si(t['cycles'])} | {_ratio(t['cycles'], tot['bound_latency_cycles'])} | "
                     f"{_energy(t['energy_pj'])} | {_ratio(t['energy_pj'], tot['bound_energy_pj'])} | "
                     f"{_si(t['edp'])} |")
    return lines


def _timing_lines(run: dict[str, Any]) -> list[str]:
    t = run["timing"]
    lines = [f"- MIP whole network, cold (empty cache): **{t['mip_cold_wall_s']:.1f} s** wall; warm (cached): "
             f"median **{t['mip_warm_wall_s_median']:.2f} s** of {[round(x, 2) for x in t['mip_warm_walls_s']]}"
             if t.get("mip_warm_wall_s_median") is not None else
             f"- MIP whole network, cold: **{t['mip_cold_wall_s']:.1f} s** wall"]
    cli = t.get("cli_compile")
    if cli:
        lines.append(f"- CLI end to end (`{cli.get('command', '')}`): not measured ({cli['error']})" if "error" in cli else
                     f"- CLI end to end, fresh process each (`{cli['command']}`): cold **{cli['cold_s']:.1f} s**, "
                     f"warm median **{cli['warm_s_median']:.2f} s** of {[round(x, 2) for x in cli['warm_s']]}")
    if t.get("baselines_reused_from"):
        lines.append(f"- search baselines reused from an earlier run with the same seed: {t['baselines_reused_from']}")
    for key, label in (("random5", "random-5"), ("random16k", "random-N")):
        if f"{key}_wall_s" in t:
            per = t.get(f"{key}_per_layer_s_median")
            extra = "" if per is None else (f"; per layer median {per:.2f} s = "
                                            f"{t[f'{key}_per_sample_us_median']:.0f} us per sample (draw + evaluate)")
            lines.append(f"- {label} whole network: {t[f'{key}_wall_s']:.1f} s wall{extra}")
    zz = t.get("zigzag")
    if zz:
        if "error" in zz:
            lines.append(f"- ZigZag LOMA: not measured ({zz['error']})")
        else:
            lines.append(f"- ZigZag 3.9.1 LOMA (its own cost model, Simba-like hardware in benchmarks/zigzag/): "
                         f"**{zz['wall_s']:.1f} s** wall in-process ({zz.get('process_wall_s', 0):.1f} s with start-up), "
                         f"{zz.get('layers', '?')} layers, latency {_si(zz.get('latency_cycles'))} cycles, energy "
                         f"{_energy(zz.get('energy_pj'))} (settings: {zz.get('settings', '')})")
    return lines


def _goal_lines(run: dict[str, Any]) -> list[str]:
    g = run["goals"]
    lines = [f"- network latency / latency bound: {g['latency_vs_bound']:.3f}",
             f"- network energy / energy bound: {g['energy_vs_bound']:.3f}",
             f"- worst layer latency / its bound: {g['worst_layer_latency_vs_bound']:.2f} ({g['worst_layer']})"]
    if "geomean_speedup_vs_random16k" in g:
        lines.append(f"- geomean over layers vs random-N: latency {g['geomean_speedup_vs_random16k']:.2f}x, "
                     f"energy {g.get('geomean_energy_gain_vs_random16k', float('nan')):.2f}x, "
                     f"EDP {g.get('geomean_edp_gain_vs_random16k', float('nan')):.2f}x better "
                     f"(random-N alone reaches {g.get('random16k_latency_vs_bound', float('nan')):.3f}x the network "
                     "latency bound, which caps any latency speedup over it)")
    if "layers_within_5pct_of_long_search" in g:
        lines.append(f"- layers within 5 % of the long search: {100 * g['layers_within_5pct_of_long_search']:.0f} %")
    lines += ["", "| goal | met |", "|---|---|"]
    order = ("latency within", "energy within", "no layer", ">= 1.5x", ">= 95%", "cold", "warm", "faster")

    def rank(name: str) -> int:
        return next((i for i, prefix in enumerate(order) if name.startswith(prefix)), len(order))

    checks = sorted(g["checks"].items(), key=lambda item: rank(item[0]))  # JSON round trips sort the keys
    lines += [f"| {name} | {'yes' if ok else '**no**'} |" for name, ok in checks]
    return lines


REFERENCE = {("resnet50", "simba"): "Reference (issue 4): the original CoSA, paper-era formulation solved to "
                                  "optimality, through Timeloop 3.0.3: 6.64 M cycles = 1.28x the latency bound, "
                                  "9.04 mJ = 1.59x the energy bound; worst layer 6.7x its bound."}


def render_markdown(doc: dict[str, Any]) -> str:
    cfg = doc["config"]
    labels = method_labels(int(cfg["random_samples"]))
    lines = ["# cosa-onnx benchmark", "",
             f"`{doc['command']}` — cosa-onnx {doc['tool_version']}, {doc['date_utc']} UTC, "
             f"{doc['machine']['cores_available']} cores, jobs={doc['machine']['jobs']}, 1-min load average "
             f"{doc['machine'].get('load_avg_1min_start', float('nan')):.1f} at start, "
             f"{doc['machine'].get('load_avg_1min_end', float('nan')):.1f} at end (shared machine). "
             f"Random search: {cfg['random_samples']} samples (objective {cfg['objective']}); exhaustive limit "
             f"{cfg['exhaustive_limit']}; long search = random-N + exhaustive where feasible"
             f"{' + MIP with 10x limits, gap 0 (--long)' if cfg['long'] else ''}"
             f"{' + random with 4x samples (--long-random)' if cfg.get('long_random') else ''}. "
             f"MIP options: `{cfg['mip_options']}`.", "",
             "All cycles/energies are from our cost model (Timeloop semantics). Totals weight each distinct layer "
             "by its multiplicity. Ratios `r5/MIP` etc. > 1 mean the MIP is better. One run on a shared, noisy "
             "machine: timings are single measurements (warm: median of repeats)."]
    for run in doc["runs"]:
        lines += ["", f"## {run['network']} on {run['arch']}", "",
                  f"{run['distinct_layers']} distinct of {run['total_layers']} layers, from `{run['source']}`.", "",
                  *([REFERENCE[(run["network"], run["arch"])], ""] if (run["network"], run["arch"]) in REFERENCE else []),
                  "### Totals", "", *_totals_table(run, labels), "", "### Goals (issue 4)", "", *_goal_lines(run), "",
                  "### Time", "", *_timing_lines(run), "", "### Per layer", "", *_layer_table(run)]
    return "\n".join(lines) + "\n"


def plot_latency(run: dict[str, Any], path: Path, samples: int = 16_000) -> Path | None:
    """Per-layer latency over its bound for each method (log scale); None without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    rows = run["layers"]
    xs = list(range(len(rows)))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.4 * len(rows)), 4.0))
    for offset, (key, label) in enumerate(method_labels(samples).items()):
        ys = [r["methods"][key]["cycles"] / r["bounds"]["latency_cycles"] if r["methods"].get(key) else None
              for r in rows]
        pts = [(x, y) for x, y in zip(xs, ys, strict=True) if y is not None]
        if pts:
            ax.plot([p[0] + 0.1 * (offset - 2) for p in pts], [p[1] for p in pts], marker=MARKERS[key], linestyle="",
                    label=label, alpha=0.8)
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_yscale("log")
    ax.set_xlabel("distinct layer")
    ax.set_ylabel("latency / latency bound")
    ax.set_title(f"{run['network']} on {run['arch']}: latency vs bound (our cost model)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
