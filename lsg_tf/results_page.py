"""The results page of a reproduction: our runs side by side with the paper's numbers.

:func:`write_page` reads what :mod:`lsg_tf.reproduce_lib` wrote (``report/report.json``,
``attack_eval/attack_eval.json``, ``localization/localization.json``, ``stages.json``) and
writes ``README.md`` with Tables 1-5 in the paper's shape, the masking result, the figures,
the budget, each stage's wall time and the command. Each LSG number is compared with STD in
the direction the paper claims, and the page says plainly where a claim does not reproduce.
"""

from __future__ import annotations

import os

from lsg_tf import paper, recipes, run_io
from lsg_tf.analysis import localization_report, report_lib
from lsg_tf.experiments import (ATTACK_DIR, CIFAR_FLAGFILE, LABELS, LOCALIZATION_DIR,
                                MAIN_VARIANTS, REPORT_DIR, cifar_setting)
from lsg_tf.formatting import MISSING, fmt, is_missing
from lsg_tf.robustness import attack_report

PAGE_FILE = "README.md"


def _std_lsg(table: dict, key: str) -> tuple:
    return table[paper.STD][key], table[paper.LSG][key]


# The paper's (STD, LSG) columns of each row: CIFAR-10 ResNet20 (Tables 1, 2, 4, 5) and
# PASCAL VOC ResNet152 totals (Table 3; a different data set and network, shown for the
# direction of the claim).
_PAPER = {
    "accuracy": _std_lsg(paper.TABLE1, "accuracy"),
    "cross_entropy": _std_lsg(paper.TABLE1, "cross_entropy"),
    "density": _std_lsg(paper.TABLE1, "l1_norm"),
    "phi": _std_lsg(paper.TABLE1, "phi"),
    "c_ic": tuple(paper.TABLE2_C_IC["ResNet20"][model] for model in (paper.STD, paper.LSG)),
    "detection": dict(zip(paper.TABLE4_SIZES,
                          zip(paper.TABLE4_AUC[paper.STD], paper.TABLE4_AUC[paper.LSG]))),
    "clean_accuracy": _std_lsg(paper.TABLE5, "clean_accuracy"),
    "pixel": _std_lsg(paper.TABLE5, "pixel"),
    "local_search": _std_lsg(paper.TABLE5, "local_search"),
    **{key: _std_lsg(paper.TABLE3, key)
       for key in ("one_filter_iou", "one_filter_ap", "cam_iou", "cam_ap")},
}

SATURATED_AUC = 99.0  # detection AUC (%) at or above which every model counts as saturated


def claim(lsg, std, higher_is_better: bool, tolerance: float = 0.0) -> str:
    """``reproduces`` when ``lsg`` is on the paper's side of ``std`` (within ``tolerance``);
    :data:`~lsg_tf.formatting.MISSING` when either is missing."""
    if is_missing(lsg) or is_missing(std):
        return MISSING
    better = lsg >= std - tolerance if higher_is_better else lsg <= std + tolerance
    return "reproduces" if better else "**does not reproduce**"


def _read(out_dir, *parts):
    path = os.path.join(out_dir, *parts)
    return run_io.read_json(path) if os.path.exists(path) else None


def _row(label, values, paper_values=None, digits=4, verdicts=None):
    cells = [label] + [fmt(v, digits) if not isinstance(v, str) else v for v in values]
    cells += [fmt(p, digits) for p in (paper_values or (None, None))]
    if verdicts is not None:
        cells.append(verdicts)
    return "| " + " | ".join(cells) + " |"


def _header(first, names, verdict=True):
    cells = [first] + names + ["paper STD", "paper LSG"] + (["LSG vs STD here"] if verdict else [])
    return "| " + " | ".join(cells) + " |\n|" + "---|" * len(cells)


def _verdicts(values: dict, lsg_names, higher_is_better, tolerance=0.0):
    std = values.get("std")
    return "; ".join(f"{n}: {claim(values.get(n), std, higher_is_better, tolerance)}"
                     for n in lsg_names if n in values)


class _Page:
    """What the sections read (the variants, their labels, the stages' JSON) and the claims
    they check, collected for the summary at the top."""

    def __init__(self, names, report: dict, attacks: dict, localization: dict | None):
        self.names = names
        self.lsg = [n for n in names if n != "std"]
        self.labels = [LABELS.get(n, n) for n in names]
        self.report, self.attacks, self.localization = report, attacks, localization
        self.runs = {r["name"]: r for r in report["runs"]}
        self.attack_runs = {r["name"]: r for r in attacks["runs"]}
        self.claims = []  # (claim, {run: verdict}) for the summary

    def check(self, text, values, higher_is_better, summary_value=None, digits=3):
        """The verdict cell of a table row; also records the claim for the summary."""
        verdicts = {n: claim(values.get(n), values.get("std"), higher_is_better)
                    for n in self.lsg if n in values}
        shown = {n: f"{v} ({fmt(values[n], digits)} vs {fmt(values['std'], digits)})"
                 for n, v in verdicts.items()}
        self.claims.append((text, summary_value or shown))
        return "; ".join(f"{n}: {v}" for n, v in verdicts.items())


def _setting_text() -> str:
    """The training setting of ``cifar.flags`` beside the budget, as a sentence."""
    s = cifar_setting()
    recipe = ", ".join(f"{k} {s[k]}" for k in recipes.DEFAULT if k != "lr_schedule")
    return (f"{s['optimizer'].upper()} momentum {s['momentum']:g}, lr "
            f"{s['learning_rate']:g} with the library's recipe ({recipe}), Algorithm 1 with "
            f"the LSG path in epochs ≡ {s['phase']} (mod {s['period']}), "
            f"λ = {s['lsg_weight']:g}, a = {s['sparsity_coefficient']:g}, density target "
            f"{s['density_target']:g}, G by {s['gate_optimizer'].capitalize()} lr "
            f"{s['gate_learning_rate']:g}, seed {s['seed']}")


def _introduction(page: _Page, budget, command: str) -> list:
    lines = ["# LSG vs STD on CIFAR-10: the paper's tables at a "
             f"`{budget.name}` budget", "",
             "Regenerate every number and figure on this page with:", "", "```", command, "```",
             "", f"**Budget** (identical for every model): {budget.describe()}. Training "
             "otherwise follows the paper's section 4 "
             f"(`{os.path.basename(CIFAR_FLAGFILE)}`): {_setting_text()}. Columns:",
             ""]
    for n in page.names:
        r = page.runs[n]
        lines.append(f"- **{LABELS.get(n, n)}** (`{n}`): scheme `{r['scheme']}`"
                     + {"alternate_a0": ", a = 0 (Fig. 4b)",
                        "fixed_gate": ", the fixed gate of appendix C"}.get(n, "") + ".")
    lines += ["", "The paper's columns are its published ResNet20 numbers (150 epochs, full "
              "data); \"LSG vs STD here\" checks the paper's claim on our runs, in the "
              "direction the paper reports.", ""]
    return lines


def _summary(page: _Page) -> list:
    """One row per claim the sections checked: the verdict of each LSG run against STD."""
    lsg = page.lsg
    lines = ["## Summary: which claims reproduce at this budget", "",
             "Each cell: the LSG run against STD in the direction the paper reports "
             "(values: LSG vs STD). The sections below hold the numbers and the paper's.", "",
             "| the paper's claim | " + " | ".join(LABELS.get(n, n) for n in lsg) + " |",
             "|---|" + "---|" * len(lsg)]
    for text, verdicts in page.claims:
        lines.append(f"| {text} | " + " | ".join(verdicts.get(n, MISSING) for n in lsg) + " |")
    return lines + [""]


def _table1(page: _Page) -> list:
    names, runs, check = page.names, page.runs, page.check
    t1 = {n: runs[n]["table1"] for n in names}
    acc = {n: t1[n]["accuracy"] for n in names}
    ce = {n: t1[n]["cross_entropy"] for n in names}
    dens = {n: t1[n]["l1_norm"] for n in names}
    phi = {n: t1[n]["phi"] for n in names}
    mis = {n: runs[n]["mis"]["mis"] for n in names}
    lines = ["## Table 1: accuracy, cross-entropy, gate density, Φ, MIS", "",
             _header("metric", page.labels),
             _row("test accuracy", [acc[n] for n in names], _PAPER["accuracy"],
                  verdicts=check("test accuracy: LSG ≥ STD (Table 1)", acc, True)),
             _row("cross-entropy", [ce[n] for n in names], _PAPER["cross_entropy"],
                  verdicts=f"{MISSING} (the paper's CE is on another scale)"),
             _row("gate density ‖G‖₁/(C·K)", [dens[n] for n in names], _PAPER["density"],
                  verdicts=f"{MISSING} (STD's is the gate Φ fits, pulled to the same target)"),
             _row("Φ", [phi[n] for n in names], _PAPER["phi"],
                  verdicts=check("Φ (filter ambiguity): LSG < STD (Table 1)", phi, False)),
             _row("MIS", [mis[n] for n in names], None,
                  verdicts=check("MIS: LSG > STD (appendix B)", mis, True)),
             "", "STD's density is that of the gate Φ fits to its frozen features (its own "
             "gate is never trained), as in the paper. Test accuracy claim: LSG ≥ STD.", ""]
    main_lsg = [n for n in MAIN_VARIANTS if n != "std"]
    gap = {n: (acc[n] - acc["std"]) * 100 for n in main_lsg}
    lines += ["Accuracy against STD: " + ", ".join(
        f"{LABELS[n]} {gap[n]:+.1f} points" for n in main_lsg) + ".", ""]
    return lines


def _table2(page: _Page) -> list:
    cic = {n: page.runs[n]["c_ic"] for n in page.names}
    return ["## Table 2: inter-class filter correlation C_IC (m = 6)", "",
            _header("metric", page.labels),
            _row("C_IC", [cic[n] for n in page.names], _PAPER["c_ic"],
                 verdicts=page.check("C_IC: LSG < STD (Table 2)", cic, False)), ""]


def _table3(page: _Page) -> list:
    lines = ["## Table 3 (shape): localization on MSRC-v2 photos", ""]
    if page.localization is None:
        return lines + ["Not run (no VOC-layout folder was given).", ""]
    data = page.localization["data"]
    lines += [f"Cross-dataset: {data['num_images']} MSRC-v2 photos of the classes CIFAR-10 "
              f"shares ({data['num_items']} image-class items), resized to 32×32; the "
              "paper's Table 3 is ResNet152 on PASCAL VOC crops, so its columns show the "
              "direction of the claim, not comparable values. Top 20% activations, success "
              "IoU > 0.15 (AP15).", "", _header("total", page.labels)]
    variant = page.localization["variants"][0]
    for key, part, metric in (("one_filter_iou", "one_filter", "avg_iou"),
                              ("one_filter_ap", "one_filter", "ap"),
                              ("cam_iou", "cam", "avg_iou"), ("cam_ap", "cam", "ap")):
        values = {n: variant["runs"][n][part][metric] for n in page.names
                  if n in variant["runs"]}
        label = {"one_filter": "one filter", "cam": "CAM"}[part] + " " + \
            {"avg_iou": "Avg-IoU", "ap": "AP15"}[metric]
        lines.append(_row(label, [values.get(n) for n in page.names], _PAPER[key], digits=3,
                          verdicts=page.check(f"localization, {label}: LSG > STD (Table 3)",
                                              values, True)))
    details = f"{LOCALIZATION_DIR}/{localization_report.MARKDOWN_FILE}"
    lines += ["", f"Per class and the later variant (top 30%, IoU > 0.3): "
              f"[{details}]({details}).", ""]
    return lines


def _table4(page: _Page) -> list:
    config = page.attacks["config"]
    sizes = [int(s) for s in config["detection"]["train_per_class"]]
    paper_aucs = [v for aucs in paper.TABLE4_AUC.values() for v in aucs]
    lines = ["## Table 4: adversarial detection AUC (%)", "",
             f"Targeted PGD (ε = 0.3, {config['pgd']['max_iter']} iterations) on "
             "test images; a random forest on the GAP of every conv layer's output. Our "
             f"training sizes are {'/'.join(map(str, sizes))} images per class (the paper: "
             f"{'/'.join(map(str, paper.TABLE4_SIZES))}), "
             f"{config['detection']['test_per_class']} test images per class, "
             f"{config['detection']['repeats']} repeats.", "",
             _header("training images per class", page.labels)]
    saturated = all(100 * r["detection"]["mean_auc"][str(size)] >= SATURATED_AUC
                    for r in page.attack_runs.values() for size in sizes)
    for size in sizes:
        values = {n: 100 * page.attack_runs[n]["detection"]["mean_auc"][str(size)]
                  for n in page.names if n in page.attack_runs}
        text = f"detection AUC, {size} per class: LSG > STD (Table 4)"
        if saturated:
            verdict = f"{MISSING} (saturated: every model ≥ {SATURATED_AUC:g}%)"
            page.claims.append((text, {n: "not testable: saturated" for n in page.lsg}))
        else:
            verdict = page.check(text, values, True)
        lines.append(_row(str(size), [values.get(n) for n in page.names],
                          _PAPER["detection"].get(size), digits=2, verdicts=verdict))
    lines.append("")
    if saturated:
        lines += [f"Every model's detector reaches at least {SATURATED_AUC:g}% AUC at every "
                  "training size: at ε = 0.3 the adversarial features are trivially "
                  "separable here, so this protocol cannot show the paper's difference "
                  f"(the paper's AUCs are {min(paper_aucs):.0f}-{max(paper_aucs):.0f}%).", ""]
    return lines


def _table5(page: _Page) -> list:
    names, attack_runs, config = page.names, page.attack_runs, page.attacks["config"]
    lines = ["## Table 5: black-box attacks", "", _header("metric (%)", page.labels)]
    clean = {n: 100 * attack_runs[n]["clean_accuracy"] for n in names}
    lines.append(_row("clean accuracy", [clean[n] for n in names], _PAPER["clean_accuracy"],
                      digits=2, verdicts=_verdicts(clean, page.lsg, True)))  # = Table 1's
    for attack, title in (("pixel", "one-pixel success"), ("local_search",
                                                           "local-search success")):
        values, cells = {}, []
        for n in names:
            record = attack_runs[n][attack]
            values[n] = 100 * record["successes"] / record["attempts"] if record["attempts"] \
                else float("nan")
            cells.append(f"{fmt(values[n], 1)} ({record['successes']}/{record['attempts']})")
        lines.append(_row(title, cells, _PAPER[attack], digits=2,
                          verdicts=page.check(f"{title} rate (%): LSG < STD (Table 5)", values,
                                              False, digits=1)))
    lines += ["", "Success rates are over the correctly classified images among the first "
              f"{config['pixel']['images']} (one-pixel) and "
              f"{config['local_search']['images']} (local search) of a seeded "
              "stratified sample; small samples, so differences of a few images are noise.",
              ""]
    return lines


def _masking(page: _Page) -> list:
    names, runs = page.names, page.runs
    lines = ["## Masking class c's filters (Fig. 5)", "",
             "Filters with G[c, k] > 0.5 are zeroed; recall of class c before → after, and "
             "the mean recall of the other classes after. STD uses Φ's gate.", "",
             "| class | " + " | ".join(page.labels) + " |", "|---|" + "---|" * len(names)]
    class_names = page.report["data"]["class_names"]
    for c, cname in enumerate(class_names):
        cells = []
        for n in names:
            sweep = runs[n]["masking_sweep"]
            cells.append(f"{sweep['baseline_recall'][c]:.2f} → {sweep['masked_recall'][c]:.2f}"
                         f" (others {sweep['other_recall'][c]:.2f})")
        lines.append(f"| {cname} | " + " | ".join(cells) + " |")
    mean_masked = {n: sum(runs[n]["masking_sweep"]["masked_recall"]) / len(class_names)
                   for n in names}
    lines += ["", "Mean recall of the masked class: " + ", ".join(
        f"{LABELS.get(n, n)} {mean_masked[n]:.2f}" for n in names) + " (the paper: LSG's "
        "masked class drops to near 0, STD's far less; STD is masked with Φ's gate; "
        + page.check("masking class c's filters: c's recall lower for LSG than STD (Fig. 5)",
                     mean_masked, False) + ").", ""]
    return lines


def _figures(page: _Page) -> list:
    figures = report_lib.FIGURES
    lines = ["## Figures", "",
             f"![gates]({REPORT_DIR}/{figures['gates']})", "",
             f"![masking]({REPORT_DIR}/{figures['masking']})", "",
             f"![correlation]({REPORT_DIR}/{figures['correlation']})", "",
             f"![detection ROC]({ATTACK_DIR}/{attack_report.ROC_FIGURE})", ""]
    localized = page.localization is not None
    if localized:
        lines += [f"![localization]({LOCALIZATION_DIR}/{localization_report.FIGURE_FILE})", ""]
    lines += [f"Full reports: [report]({REPORT_DIR}/{report_lib.REPORT_FILE}), "
              f"[attack evaluation]({ATTACK_DIR}/{attack_report.MARKDOWN_FILE})"
              + (f", [localization]({LOCALIZATION_DIR}/{localization_report.MARKDOWN_FILE})"
                 if localized else "") + ".", ""]
    return lines


def _wall_time(names, stages: dict) -> list:
    lines = ["## Wall time of each stage", "", "| stage | seconds |", "|---|---|"]
    total = 0.0
    order = [f"train/{n}" for n in names] + ["report", "attack_eval", "localization"]
    for stage in sorted(stages, key=lambda s: order.index(s) if s in order else len(order)):
        record = stages[stage]
        lines.append(f"| {stage} | {record['seconds']:.0f} |")
        total += record["seconds"]
    return lines + [f"| **total** | **{total:.0f}** ({total / 3600:.2f} h) |", "",
                    "Training times are the runs' own (summed over resumes); one machine, "
                    "stages run one after another.", ""]


def write_page(out_dir: str, budget, variants, stages: dict, command: str) -> str:
    """Writes ``out_dir/README.md`` and returns its path."""
    report = _read(out_dir, REPORT_DIR, report_lib.JSON_FILE)
    attacks = _read(out_dir, ATTACK_DIR, attack_report.JSON_FILE)
    localization = _read(out_dir, LOCALIZATION_DIR, localization_report.JSON_FILE)
    if report is None or attacks is None:
        raise FileNotFoundError(f"{out_dir}: the report and attack_eval stages must run first")
    page = _Page(list(variants), report, attacks, localization)
    sections = (_table1(page) + _table2(page) + _table3(page) + _table4(page) + _table5(page)
                + _masking(page) + _figures(page) + _wall_time(page.names, stages))
    # The summary comes first but lists the claims the sections checked.
    lines = _introduction(page, budget, command) + _summary(page) + sections
    path = os.path.join(out_dir, PAGE_FILE)
    run_io.write_text(path, "\n".join(lines))
    return path
