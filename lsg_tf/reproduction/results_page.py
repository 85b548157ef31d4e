"""The results page of a reproduction: our runs side by side with the paper's numbers.

:func:`write_page` reads what :mod:`lsg_tf.reproduction.reproduce_lib` wrote
(``report/report.json``, ``attack_eval/attack_eval.json`` unless the attack stage is left out,
``localization/localization.json``, ``seeds/seeds.json``
with several seeds, ``stages.json``) and
writes ``README.md`` with Tables 1-5 in the paper's shape, the masking result, the figures,
the budget, each stage's wall time and the command. Each LSG number is compared with STD in
the direction the paper claims, and the page says plainly where a claim does not reproduce.
"""

from __future__ import annotations

import os

from lsg_tf import flags as flagfiles
from lsg_tf import run_io
from lsg_tf.analysis import localization_report, report_lib
from lsg_tf.reporting import paper
from lsg_tf.reporting.formatting import MISSING, fmt
from lsg_tf.reproduction import page_parts, scheme_table, tiny_imagenet_page
from lsg_tf.reproduction.experiments import (
    ATTACK_DIR,
    LABELS,
    LOCALIZATION_DIR,
    MAIN_VARIANTS,
    REPORT_DIR,
    cifar_setting,
)
from lsg_tf.reproduction.page_parts import (  # noqa: F401
    NO_INTERVAL,
    PAPER,
    Page,
    header,
    interval_text,
    read,
    row,
)
from lsg_tf.robustness import attack_report
from lsg_tf.robustness.radii import eps_label
from lsg_tf.training import recipes

PAGE_FILE = "README.md"
# A previous results page kept beside the new one (its own README.md, report/, ...): Table 1
# then shows its accuracies as a "before" row, so a change of recipe stays visible.
BEFORE_DIR = "before-recipe"


def _setting_text(flagfile: str) -> str:
    """The training setting of the packaged ``flagfile`` (its name) beside the budget, as a
    sentence."""
    s = cifar_setting(flagfiles.path(flagfile))
    recipe = ", ".join(f"{k} {s[k]}" for k in recipes.DEFAULT if k != "lr_schedule")
    # Augmentation and architecture settings the flagfile sets beyond the library's recipe.
    extra = "".join(f", {k} {s[k]}" for k in ("crop_padding", "shortcut") if k in s)
    warmup = s.get("warmup_epochs", 0)
    first = (f" after {warmup} STD epoch{'s' if warmup > 1 else ''} (LSG-joint: none)"
             if warmup else "")
    return (f"{s['optimizer'].upper()} momentum {s['momentum']:g}, lr "
            f"{s['learning_rate']:g} with the library's recipe ({recipe}){extra}, Algorithm 1 with "
            f"the LSG path in epochs ≡ {s['phase']} (mod {s['period']}){first}, "
            f"λ = {s['lsg_weight']:g}, a = {s['sparsity_coefficient']:g}, density target "
            f"{s['density_target']:g}, G by {s['gate_optimizer'].capitalize()} lr "
            f"{s['gate_learning_rate']:g}, seed {s['seed']}")


def _introduction(page: Page, budget, command: str, attacks: bool = True) -> list:
    lines = ["# LSG vs STD on CIFAR-10: the paper's tables at a "
             f"`{budget.name}` budget", "",
             "Regenerate every number and figure on this page with:", "", "```", command, "```",
             "", f"**Budget** (identical for every model): {budget.describe(attacks)}. Training "
             "otherwise follows the paper's section 4 "
             f"(`{budget.flagfile}`): {_setting_text(budget.flagfile)}. Columns:",
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


def _summary(page: Page) -> list:
    """One row per claim the sections checked: the verdict of each LSG run against STD."""
    lsg = page.lsg
    lines = ["## Summary: which claims reproduce at this budget", "",
             "Each cell: the LSG run against STD in the direction the paper reports "
             "(LSG − STD and its 95% interval; \"reproduces\" only when the interval excludes "
             "0 in the paper's direction, \"inconclusive\" when it contains 0). The sections "
             "below hold the numbers, the paper's, and how each interval is computed.", "",
             "| the paper's claim | " + " | ".join(LABELS.get(n, n) for n in lsg) + " |",
             "|---|" + "---|" * len(lsg)]
    for text, verdicts in page.claims:
        lines.append(f"| {text} | " + " | ".join(verdicts.get(n, MISSING) for n in lsg) + " |")
    return lines + [""]


def _table1(page: Page) -> list:
    names, runs, check = page.names, page.runs, page.check
    t1 = {n: runs[n]["table1"] for n in names}
    acc = {n: t1[n]["accuracy"] for n in names}
    ce = {n: t1[n]["cross_entropy"] for n in names}
    dens = {n: t1[n]["l1_norm"] for n in names}
    phi = {n: t1[n]["phi"] for n in names}
    mis = {n: runs[n]["mis"]["mis"] for n in names}
    lines = ["## Table 1: accuracy, cross-entropy, gate density, Φ, MIS", "",
             header("metric", page.labels),
             row("test accuracy", [acc[n] for n in names], PAPER["accuracy"],
                  verdicts=check("test accuracy: LSG ≥ STD (Table 1)", acc, "report",
                                 "accuracy")),
             row("cross-entropy", [ce[n] for n in names], PAPER["cross_entropy"],
                  verdicts=f"{MISSING} (the paper's CE is on another scale)"),
             row("gate density ‖G‖₁/(C·K)", [dens[n] for n in names], PAPER["density"],
                  verdicts=f"{MISSING} (STD's is the gate Φ fits, pulled to the same target)"),
             row("Φ", [phi[n] for n in names], PAPER["phi"],
                  verdicts=check("Φ (filter ambiguity): LSG < STD (Table 1)", phi, "report",
                                 "phi")),
             row("MIS", [mis[n] for n in names], None,
                  verdicts=check("MIS: LSG > STD (appendix B)", mis, "seeds", "mis")),
             "", "STD's density is that of the gate Φ fits to its frozen features (its own "
             "gate is never trained), as in the paper. Test accuracy claim: LSG ≥ STD. "
             "Intervals: a paired bootstrap over the test images (the report's "
             f"[comparisons]({REPORT_DIR}/{report_lib.REPORT_FILE})); for Φ, of its per-image "
             "terms with each run's fitted gate held fixed. MIS is one estimate per trained "
             "model (a bootstrap would duplicate images, which biases its nearest-neighbour "
             "estimator): its interval and verdict are over seeds (a t-interval of the per-seed "
             "differences, the seeds table's MIS), and with one run per model there is none.",
             ""]
    lines += _before(page)
    main_lsg = [n for n in MAIN_VARIANTS if n != "std"]
    gap = {n: (acc[n] - acc["std"]) * 100 for n in main_lsg}
    lines += ["Accuracy against STD: " + ", ".join(
        f"{LABELS[n]} {gap[n]:+.1f} points" for n in main_lsg) + ".", ""]
    return lines


def _before(page: Page) -> list:
    """The previous page's test accuracies (``BEFORE_DIR``), when there is one."""
    if page.before is None:
        return []
    accuracy = {r["name"]: r["table1"]["accuracy"] for r in page.before["runs"]}
    shown = [f"{LABELS.get(n, n)} {accuracy[n]:.4f}" for n in page.names if n in accuracy]
    return ["Before the recipe change (the same budget and data, the previous training recipe; "
            f"[its page]({BEFORE_DIR}/{PAGE_FILE})): test accuracy " + ", ".join(shown) + ".",
            ""]


def _over_seeds(page: Page, seeds_file: str | None, seeds: dict | None) -> list:
    """Every variant over the seeds (``seeds/``): accuracy, Φ, density and masking as mean ±
    std, and the claim LSG ≥ STD on the test images of every seed (paired bootstrap)."""
    if seeds is None:
        return []
    table, variants = seeds["table"], seeds["variants"]
    cells = {}
    for n in page.lsg:
        boot = table.get(n, {}).get("accuracy_minus_std_images")
        if boot:
            low, high = boot["bootstrap95"]
            cells[n] = interval_text({"metric": "accuracy", "verdict": boot["verdict"],
                                      "difference": boot["difference"], "low": low,
                                      "high": high})
    page.claims.insert(0, (f"test accuracy over seeds {', '.join(map(str, seeds['seeds']))}: "
                           "LSG ≥ STD (Table 1)", cells))
    folder = os.path.dirname(seeds_file)
    return ([f"## Over seeds: every model trained with seeds {', '.join(map(str, seeds['seeds']))}",
             "", "The tables above analyse the first seed's runs; here every model is trained "
             "once per seed with everything else identical (the seed also draws the training "
             f"subset). [Its page]({folder}/{PAGE_FILE}) has the command.", ""]
            + scheme_table.body_lines(table, variants, seeds["seeds"]) + [""])


def _table2(page: Page) -> list:
    cic = {n: page.runs[n]["c_ic"] for n in page.names}
    return ["## Table 2: inter-class filter correlation C_IC (m = 6)", "",
            header("metric", page.labels),
            row("C_IC", [cic[n] for n in page.names], PAPER["c_ic"],
                 verdicts=page.check("C_IC: LSG < STD (Table 2)", cic, "seeds", "c_ic")), "",
            "C_IC is a function of the trained weights alone: its interval and verdict are over "
            "seeds (a t-interval of the per-seed differences, the seeds table's C_IC), and one "
            "run per model gives none; the report shows the four readings of the paper's "
            "definition side by side.", ""]


def _table3(page: Page) -> list:
    lines = ["## Table 3 (shape): localization on MSRC-v2 photos", ""]
    if page.localization is None:
        return lines + ["Not run (no VOC-layout folder was given).", ""]
    data = page.localization["data"]
    lines += [f"Cross-dataset: {data['num_images']} MSRC-v2 photos of the classes CIFAR-10 "
              f"shares ({data['num_items']} image-class items), resized to 32×32; the "
              "paper's Table 3 is ResNet152 on PASCAL VOC crops, so its columns show the "
              "direction of the claim, not comparable values. Top 20% activations, success "
              "IoU > 0.15 (AP15).", "", header("total", page.labels)]
    variant = page.localization["variants"][0]
    for key, part, metric in (("one_filter_iou", "one_filter", "avg_iou"),
                              ("one_filter_ap", "one_filter", "ap"),
                              ("cam_iou", "cam", "avg_iou"), ("cam_ap", "cam", "ap")):
        values = {n: variant["runs"][n][part][metric] for n in page.names
                  if n in variant["runs"]}
        label = {"one_filter": "one filter", "cam": "CAM"}[part] + " " + \
            {"avg_iou": "Avg-IoU", "ap": "AP15"}[metric]
        lines.append(row(label, [values.get(n) for n in page.names], PAPER[key], digits=3,
                          verdicts=page.check(f"localization, {label}: LSG > STD (Table 3)",
                                              values, "localization", f"{part}_{metric}",
                                              variant=variant.get("name"))))
    details = f"{LOCALIZATION_DIR}/{localization_report.MARKDOWN_FILE}"
    lines += ["", "Intervals: a paired bootstrap over the image-class items (the same items "
              "for every model)."]
    lines += ["", f"Per class and the later variant (top 30%, IoU > 0.3): "
              f"[{details}]({details}).", ""]
    return lines


def _attacks_not_run() -> list:
    """Tables 4-5 when the attack stage was left out (``attacks=False``)."""
    return ["## Tables 4-5: adversarial detection and black-box attacks", "",
            "Not run for this page (`--noattacks`): the attack stage is the longest one on a "
            "CPU. Run the same command without `--noattacks` to add them.", ""]


def _table4(page: Page) -> list:
    config = page.attacks["config"]
    runs = page.attack_runs
    sweep = runs["std"]["sweep"]
    sizes = [int(s) for s in config["detection"]["train_per_class"]]
    ref = attack_report.reference_eps(list(runs.values()))
    k = ref["index"]
    lines = ["## Table 4: adversarial detection AUC (%)", "",
             "Targeted PGD on test images at ε = "
             + ", ".join(eps_label(e["eps"]) for e in sweep)
             + f" (images in [0, 1]; {config['pgd']['max_iter']} iterations, step 2.5 ε / "
             "iterations); a random forest on the GAP of every conv layer's output. Our "
             f"training sizes are {'/'.join(map(str, sizes))} images per class (the paper: "
             f"{'/'.join(map(str, paper.TABLE4_SIZES))}), "
             f"{config['detection']['test_per_class']} test images per class, "
             f"{config['detection']['repeats']} repeats.", "",
             "Mean AUC at each ε (largest training size) and the targeted PGD success rate:",
             "", "| ε | " + " | ".join(f"{lab} AUC / PGD success" for lab in page.labels)
             + " |", "|---|" + "---|" * len(page.names)]
    largest = sizes[-1]
    for j, entry in enumerate(sweep):
        cells = [f"{100 * runs[n]['sweep'][j]['detection']['mean_auc'][str(largest)]:.1f} / "
                 f"{100 * runs[n]['sweep'][j]['pgd']['target_hit_rate']:.0f}%"
                 for n in page.names]
        lines.append(f"| {eps_label(entry['eps'])} | " + " | ".join(cells) + " |")
    lines += ["", f"**Judged at ε = {eps_label(ref['eps'])}**, where "
              + attack_report.reference_eps_text(ref) + ". At ε = 0.3 on [0, 1] images every "
              "model's detector is near 100%: the paper's ε must be on another input scale.", "",
              header("training images per class", page.labels)]
    for size in sizes:
        values = {n: 100 * runs[n]["sweep"][k]["detection"]["mean_auc"][str(size)]
                  for n in page.names if n in runs}
        text = (f"detection AUC at ε = {eps_label(ref['eps'])}, {size} per class: LSG > STD "
                "(Table 4)")
        lines.append(row(str(size), [values.get(n) for n in page.names],
                          PAPER["detection"].get(size), digits=2,
                          verdicts=page.check(text, values, "attack_eval", "detection_auc",
                                              eps=ref["eps"], train_per_class=size)))
    lines += ["", "Intervals: a paired bootstrap over the detector's test images (each with "
              "its PGD version; every model is tested on the same ones), mean AUC over the "
              f"repeats. Every ε: [attack evaluation]({ATTACK_DIR}/"
              f"{attack_report.MARKDOWN_FILE}).", ""]
    return lines


def _table5(page: Page) -> list:
    names, attack_runs, config = page.names, page.attack_runs, page.attacks["config"]
    lines = ["## Table 5: black-box attacks", "", header("metric (%)", page.labels)]
    clean = {n: 100 * attack_runs[n]["clean_accuracy"] for n in names}
    lines.append(row("clean accuracy", [clean[n] for n in names], PAPER["clean_accuracy"],
                      digits=2, verdicts=_interval_cells(page, "accuracy")))  # = Table 1's
    for attack, title in (("pixel", "one-pixel success"), ("local_search",
                                                           "local-search success")):
        values, cells = {}, []
        for n in names:
            record = attack_runs[n][attack]
            values[n] = 100 * record["successes"] / record["attempts"] if record["attempts"] \
                else float("nan")
            cells.append(f"{fmt(values[n], 1)} ({record['successes']}/{record['attempts']})")
        lines.append(row(title, cells, PAPER[attack], digits=2,
                          verdicts=page.check(f"{title} rate (%): LSG < STD (Table 5)", values,
                                              "attack_eval", attack, digits=1)))
    attempts = [attack_runs[n][a]["attempts"] for n in names for a in ("pixel", "local_search")]
    lines += ["", "Success rates are over the correctly classified images among "
              f"{config['pixel']['images']} (one-pixel) and "
              f"{config['local_search']['images']} (local search) images of a seeded "
              f"stratified sample ({min(attempts)}-{max(attempts)} attempts per model and "
              "attack). Intervals: Newcombe's hybrid score interval of the difference of two "
              "proportions (each model is attacked on the images it classifies correctly); "
              "clean accuracy, a paired bootstrap over the test images.", ""]
    return lines


def _interval_cells(page: Page, metric: str) -> str:
    """The attack stage's interval verdict of ``metric`` for every LSG run (no claim row)."""
    found = {n: page.comparison("attack_eval", metric, n) for n in page.lsg}
    return "; ".join(f"{n}: {interval_text(c) if c else NO_INTERVAL}" for n, c in found.items())


def _masking(page: Page) -> list:
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
                     mean_masked, "report", "masked_class_recall", digits=2) + "; a paired "
        "bootstrap over test images, each image scored with its own class's filters "
        "masked).", ""]
    return lines


def _figures(page: Page) -> list:
    figures = report_lib.FIGURES
    lines = ["## Figures", "",
             f"![gates]({REPORT_DIR}/{figures['gates']})", "",
             f"![masking]({REPORT_DIR}/{figures['masking']})", "",
             f"![correlation]({REPORT_DIR}/{figures['correlation']})", ""]
    attacked = page.attacks is not None
    if attacked:
        lines += [f"![detection across ε]({ATTACK_DIR}/{attack_report.SWEEP_FIGURE})", "",
                  f"![detection ROC]({ATTACK_DIR}/{attack_report.ROC_FIGURE})", ""]
    localized = page.localization is not None
    if localized:
        lines += [f"![localization]({LOCALIZATION_DIR}/{localization_report.FIGURE_FILE})", ""]
    lines += [f"Full reports: [report]({REPORT_DIR}/{report_lib.REPORT_FILE})"
              + (f", [attack evaluation]({ATTACK_DIR}/{attack_report.MARKDOWN_FILE})"
                 if attacked else "")
              + (f", [localization]({LOCALIZATION_DIR}/{localization_report.MARKDOWN_FILE})"
                 if localized else "") + ".", ""]
    return lines


def _wall_time(names, stages: dict) -> list:
    lines = ["## Wall time of each stage", "", "| stage | seconds |", "|---|---|"]
    total = 0.0
    order = [f"train/{n}" for n in names] + ["report", "attack_eval", "localization", "seeds"]

    def rank(stage):  # the first seed's runs, the other seeds' runs, then the analyses
        if stage in order:
            return (order.index(stage), 0, 0)
        run, _, seed = stage.removeprefix("train/").rpartition("-s")
        if stage.startswith("train/") and run in names and seed.isdigit():
            return (len(names) - 0.5, int(seed), names.index(run))
        return (len(order), 0, 0)

    for stage in sorted(stages, key=rank):
        record = stages[stage]
        lines.append(f"| {stage} | {record['seconds']:.0f} |")
        total += record["seconds"]
    return lines + [f"| **total** | **{total:.0f}** ({total / 3600:.2f} h) |", "",
                    "Training times are the runs' own (summed over resumes); one machine, "
                    "stages run one after another.", ""]


def write_page(out_dir: str, budget, variants, stages: dict, command: str,
               seeds_file: str | None = None, attacks: bool = True) -> str:
    """Writes ``out_dir/README.md`` and returns its path.

    ``seeds_file``: the seeds stage's JSON, relative to ``out_dir`` (several seeds only).
    ``attacks=False``: the attack stage was left out; Tables 4-5 say so (any attack results
    in ``out_dir`` are not read: they may belong to other runs). A hand-written section
    "Notes on this run" at the end of the page being replaced is kept.
    """
    report = read(out_dir, REPORT_DIR, report_lib.JSON_FILE)
    attack_results = read(out_dir, ATTACK_DIR, attack_report.JSON_FILE) if attacks else None
    localization = read(out_dir, LOCALIZATION_DIR, localization_report.JSON_FILE)
    if report is None or (attacks and attack_results is None):
        raise FileNotFoundError(f"{out_dir}: the report and attack_eval stages must run first")
    page = Page(list(variants), report, attack_results, localization)
    page.before = read(out_dir, BEFORE_DIR, REPORT_DIR, report_lib.JSON_FILE)
    seeds = read(out_dir, seeds_file) if seeds_file else None
    if seeds_file and seeds is None:
        raise FileNotFoundError(f"{out_dir}: {seeds_file} missing: the seeds stage must run first")
    page.seed_table = seeds["table"] if seeds else None
    attack_tables = _table4(page) + _table5(page) if attacks else _attacks_not_run()
    sections = (_table1(page) + _over_seeds(page, seeds_file, seeds) + _table2(page)
                + _table3(page) + tiny_imagenet_page.main_page_section(out_dir)
                + attack_tables + _masking(page) + _figures(page)
                + _wall_time(page.names, stages))
    # The summary comes first but lists the claims the sections checked.
    lines = _introduction(page, budget, command, attacks) + _summary(page) + sections
    path = os.path.join(out_dir, PAGE_FILE)
    run_io.write_text(path, "\n".join(lines) + page_parts.kept_notes(path))
    return path
