"""Tables, targets and the per-generation figure of a CReST benchmark, from :func:`crest_comparison.collect`.

``results``: row name -> per-seed dicts with "seed", "history" (finished generations, each the
``result`` of generation_<g>.pt), "complete", "rarest" (class ids) and "seconds". Means and standard
deviations are over the seeds whose run of that row is complete; partial runs only enter the
per-generation tables, which say how many seeds each mean has.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

RAREST_TARGET = 10.0  # points of rarest-3 recall CReST+ must gain over FixMatch(S)
ACCURACY_TARGET = 4.0  # points of balanced accuracy


def complete(runs: list[dict]) -> list[dict]:
    return [r for r in runs if r["complete"]]


def final(run: dict, key: str) -> float:
    return 100 * run["history"][-1][key]


def rarest_recall(run: dict, key: str) -> float:
    return 100 * float(np.mean([run["history"][-1][key][c] for c in run["rarest"]]))


def mean_std(values: Sequence[float]) -> str:
    return f"{np.mean(values):.1f} ± {np.std(values):.1f}" if len(values) else "—"


def _seeds(runs: list[dict]) -> str:
    parts = [", ".join(str(r["seed"]) for r in complete(runs))]
    partial = [f"{r['seed']} ({len(r['history'])} gen.)" for r in runs if not r["complete"]]
    parts.append(f"partial: {', '.join(partial)}" if partial else "")
    return "; ".join(p for p in parts if p) or "—"


def summary_table(results: dict[str, list[dict]], rows: Sequence) -> str:
    """Balanced accuracy and rarest-3 recall, plain and logit-adjusted, per row."""
    header = "| row | compute (steps) | seeds complete | balanced acc. | + LA | rarest-3 recall | + LA |"
    lines = [header, "|---|---|---|---|---|---|---|"]
    for row in rows:
        runs = complete(results[row.name])
        cells = [
            mean_std([final(r, "balanced_accuracy") for r in runs]),
            mean_std([final(r, "balanced_accuracy_la") for r in runs]),
            mean_std([rarest_recall(r, "recall") for r in runs]),
            mean_std([rarest_recall(r, "recall_la") for r in runs]),
        ]
        label = f"{row.name} (deviation from the paper)" if row.deviation else row.name
        compute = f"{row.generations} x {row.steps}" if row.generations > 1 else str(row.steps)
        lines.append(f"| {label} | {compute} | {_seeds(results[row.name])} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def la_prior_table(results: dict[str, list[dict]], rows: Sequence) -> str:
    """Logit adjustment with the generation's labelled prior (reference) against the original prior."""
    lines = [
        "| row | balanced acc. + LA, generation prior (reference) | + LA, original prior | difference |",
        "|---|---|---|---|",
    ]
    for row in rows:
        runs = complete(results[row.name])
        if row.generations == 1 or not runs:
            continue
        generation = [final(r, "balanced_accuracy_la") for r in runs]
        original = [final(r, "balanced_accuracy_la_original") for r in runs]
        difference = np.subtract(generation, original)
        lines.append(
            f"| {row.name} | {mean_std(generation)} | {mean_std(original)} | {mean_std(difference)} |"
        )
    return "\n".join(lines) if len(lines) > 2 else "(no multi-generation run complete yet)"


def recall_table(
    results: dict[str, list[dict]], rows: Sequence, class_names: Sequence[str], order: Sequence[int], key: str
) -> str:
    """Per-class test recall (mean over complete seeds), columns in ``order`` (class ids)."""
    lines = ["| row | " + " | ".join(class_names[c] for c in order) + " |", "|---" * (len(order) + 1) + "|"]
    for row in rows:
        runs = complete(results[row.name])
        if runs:
            recall = 100 * np.mean([r["history"][-1][key] for r in runs], axis=0)
            lines.append(f"| {row.name} | " + " | ".join(f"{recall[c]:.0f}" for c in order) + " |")
    return "\n".join(lines)


def _per_generation(runs: list[dict], key: str) -> list[list[float]]:
    """Per generation, the values of ``key`` of the seeds that finished it."""
    depth = max((len(r["history"]) for r in runs), default=0)
    return [[r["history"][g][key] for r in runs if len(r["history"]) > g] for g in range(depth)]


def generation_table(results: dict[str, list[dict]], rows: Sequence) -> str:
    """Balanced accuracy (plain / + LA) and pick diagnostics per generation, mean over the seeds that
    finished the generation (n = how many)."""
    header = "| row | gen. | n | balanced acc. | + LA | labelled imbalance before -> after | pick precision |"
    lines = [header + " rarest-3 predicted / picked |", "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        runs = results[row.name]
        if row.generations == 1 or not runs:
            continue
        for g, (plain, adjusted) in enumerate(
            zip(_per_generation(runs, "balanced_accuracy"), _per_generation(runs, "balanced_accuracy_la"))
        ):
            with_picks = [r for r in runs if len(r["history"]) > g and "picked_per_class" in r["history"][g]]
            picks = "—", "—", "—"
            if with_picks:
                entries = [(r["history"][g], r["rarest"]) for r in with_picks]
                before = np.mean([e["imbalance_before"] for e, _ in entries])
                after = np.mean([e["imbalance_after"] for e, _ in entries])
                precision = [e["pick_precision"] for e, _ in entries if e["pick_precision"] is not None]
                predicted = np.mean(
                    [sum(e["predicted_per_class"][c] for c in rarest) for e, rarest in entries]
                )
                picked = np.mean([sum(e["picked_per_class"][c] for c in rarest) for e, rarest in entries])
                picks = (
                    f"{before:.0f} -> {after:.0f}",
                    f"{100 * np.mean(precision):.1f}" if precision else "—",
                    f"{predicted:.0f} / {picked:.0f}",
                )
            cells = (str(len(plain)), f"{100 * np.mean(plain):.1f}", f"{100 * np.mean(adjusted):.1f}", *picks)
            lines.append(f"| {row.name} | {g} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def evidence_table(results: dict[str, list[dict]], rows: Sequence, class_names: Sequence[str]) -> str:
    """FixMatch at several S: balanced accuracy and the recall of each rarest-3 class, per seed."""
    lines = [
        "| FixMatch steps | seed | balanced acc. | recall of the rarest 3 classes |",
        "|---|---|---|---|",
    ]
    for row in sorted(rows, key=lambda r: r.steps):
        for run in complete(results[row.name]):
            recall = ", ".join(
                f"{class_names[c]} {100 * run['history'][-1]['recall'][c]:.0f}" for c in run["rarest"]
            )
            lines.append(
                f"| {row.steps} | {run['seed']} | {final(run, 'balanced_accuracy'):.1f} | {recall} |"
            )
    return "\n".join(lines)


def _paired_gain(results: dict, better: str, worse: str, metric, key_better: str, key_worse: str):
    """Mean over the seeds complete in both rows of better - worse, in points, and those seeds."""
    a = {r["seed"]: r for r in complete(results[better])}
    b = {r["seed"]: r for r in complete(results[worse])}
    seeds = sorted(set(a) & set(b))
    if not seeds:
        return None, seeds
    return float(np.mean([metric(a[s], key_better) - metric(b[s], key_worse) for s in seeds])), seeds


def target_lines(results: dict[str, list[dict]], rows: Sequence) -> str:
    """Met / not met for: CReST+ vs FixMatch(S) (paper protocol); best deviation vs FixMatch(GxS) + LA."""
    names = {row.folder: row.name for row in rows}
    baseline, crest_plus, control = names["fixmatch_S"], names["crest_plus"], names["fixmatch_GxS"]
    lines = []
    accuracy, seeds = _paired_gain(
        results, crest_plus, baseline, final, "balanced_accuracy", "balanced_accuracy"
    )
    rarest, _ = _paired_gain(results, crest_plus, baseline, rarest_recall, "recall", "recall")
    if accuracy is None:
        lines.append(f"- {crest_plus} vs {baseline}: no seed complete in both rows yet: not measured.")
    else:
        lines.append(
            f"- {crest_plus} minus {baseline} (plain, seeds {seeds}): balanced accuracy {accuracy:+.1f} points "
            f"(target +{ACCURACY_TARGET:.0f}: {'met' if accuracy >= ACCURACY_TARGET else 'not met'}), "
            f"rarest-3 recall {rarest:+.1f} points "
            f"(target +{RAREST_TARGET:.0f}: {'met' if rarest >= RAREST_TARGET else 'not met'})."
        )
    for row in rows:
        if not row.deviation:
            continue
        gains = []
        for key in ("balanced_accuracy", "balanced_accuracy_la"):
            gain, seeds = _paired_gain(results, row.name, control, final, key, "balanced_accuracy_la")
            if gain is not None:
                gains.append((gain, key))
        if not gains:
            lines.append(f"- {row.name} vs {control} + LA: no seed complete in both rows yet: not measured.")
            continue
        gain, key = max(gains)
        column = "+ LA" if key.endswith("_la") else "plain"
        lines.append(
            f"- {row.name} ({column}) minus {control} + LA (seeds {seeds}): balanced accuracy {gain:+.1f} points "
            f"(target: ahead: {'met' if gain > 0 else 'not met'})."
        )
    return "\n".join(lines)


def save_generation_figure(results: dict[str, list[dict]], rows: Sequence, path: Path) -> bool:
    """PNG: mean test balanced accuracy per generation (plain solid, + LA dashed) of the multi-generation
    rows, FixMatch rows as horizontal lines. Returns False (no file) when nothing has finished."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 3.8))
    drawn = False
    depth = max((r.generations for r in rows), default=1)
    for index, row in enumerate(rows):
        runs = results[row.name]
        if not runs:
            continue
        color = f"C{index}"
        plain = [100 * np.mean(v) for v in _per_generation(runs, "balanced_accuracy")]
        adjusted = [100 * np.mean(v) for v in _per_generation(runs, "balanced_accuracy_la")]
        if row.generations == 1:
            if complete(runs):
                axes.axhline(plain[0], color=color, label=row.name)
                axes.axhline(adjusted[0], color=color, linestyle="--", label=f"{row.name} + LA")
                drawn = True
            continue
        axes.plot(range(len(plain)), plain, "o-", color=color, label=row.name)
        axes.plot(range(len(adjusted)), adjusted, "s--", color=color, label=f"{row.name} + LA")
        drawn = True
    if drawn:
        axes.set_xticks(range(depth))
        axes.set_xlabel("generation")
        axes.set_ylabel("test balanced accuracy (%)")
        axes.grid(alpha=0.3)
        axes.legend(fontsize=6)
        figure.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, dpi=80)
    plt.close(figure)
    return drawn
