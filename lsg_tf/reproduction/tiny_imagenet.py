"""Table 3 on Tiny ImageNet animals: STD, LSG-alternate and LSG-joint in two settings, with
seeds, then in-distribution localization against the test images' boxes.

* ``scratch`` (``tiny_imagenet.flags``): trained from random initialisation at 64x64;
* ``finetune`` (``tiny_imagenet_finetune.flags``): ImageNet EfficientNet-Lite0 with all but its
  top two blocks frozen, fine-tuned with the paper's optimiser (Adam; section 4) at the
  flagfile's rates for its budget, on the frozen part's cached output.

:func:`reproduce_tiny_imagenet` trains every (setting, variant, seed) run (resuming, skipping
finished ones), runs :func:`~lsg_tf.analysis.box_localization_report.box_localization_report`
per setting into ``out_dir/<setting>/`` and writes ``out_dir/README.md``
(:mod:`lsg_tf.reproduction.tiny_imagenet_page`), with the settings not rerun read from
``out_dir`` where an earlier command wrote them.
"""

from __future__ import annotations

import os

from lsg_tf import flags as flagfiles
from lsg_tf import run_io
from lsg_tf.reproduction.experiments import MAIN_VARIANTS, VARIANTS, cifar_setting

SETTINGS = {"scratch": "tiny_imagenet.flags", "finetune": "tiny_imagenet_finetune.flags"}


def train_config(setting: str, variant: str, seed: int, runs_dir: str, data_dir: str,
                 cache_dir: str | None = None, epochs: int | None = None,
                 train_subset: int | None = None):
    """The :class:`~lsg_tf.training.train_lib.TrainConfig` of one run: the setting's flagfile,
    then the variant's overrides, the seed and the data folder."""
    from lsg_tf.training.train_lib import TrainConfig

    if setting not in SETTINGS:
        raise ValueError(f"setting must be one of {sorted(SETTINGS)}, got {setting!r}")
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {sorted(VARIANTS)}, got {variant!r}")
    settings = cifar_setting(flagfiles.path(SETTINGS[setting]))
    settings.update(output_dir=os.path.join(runs_dir, setting, f"{variant}-s{int(seed)}"),
                    seed=int(seed), data_dir=data_dir, cache_dir=cache_dir, verbose=2,
                    export_dir=None)
    if epochs:
        settings["epochs"] = int(epochs)
    if train_subset:
        settings["train_subset"] = int(train_subset)
    settings.update(VARIANTS[variant])
    return TrainConfig(**settings)


def reproduce_tiny_imagenet(out_dir: str, runs_dir: str, data_dir: str,
                            cache_dir: str | None = None, seeds=(0, 1),
                            settings=tuple(SETTINGS), variants=MAIN_VARIANTS, command: str = "",
                            setting_seeds: dict | None = None,
                            epochs: int | None = None, train_subset: int | None = None,
                            resamples: int | None = None) -> str:
    """Trains what is missing, localizes each setting's runs and writes the page.

    ``epochs``/``train_subset`` override the flagfiles (small smoke runs);
    ``setting_seeds`` (``{setting: seeds}``) overrides ``seeds`` for a setting (e.g. one seed
    for the costlier fine-tuning). Returns the path of ``out_dir/README.md``.
    """
    from lsg_tf.analysis import box_localization_report as report
    from lsg_tf.reproduction import tiny_imagenet_page
    from lsg_tf.training import train_lib

    unknown = [s for s in settings if s not in SETTINGS]
    if unknown or not settings:
        raise ValueError(f"settings: unknown {unknown or 'none given'}, allowed {list(SETTINGS)}")
    if "std" not in variants:
        raise ValueError(f"variants must include 'std' (the baseline), got {list(variants)}")
    per_setting = {name: tuple((setting_seeds or {}).get(name, seeds)) for name in settings}
    if not all(per_setting.values()):
        raise ValueError("seeds: give at least one seed")
    documents = {}
    for setting in settings:
        runs = []
        for seed in per_setting[setting]:
            for variant in variants:
                config = train_config(setting, variant, seed, runs_dir, data_dir, cache_dir,
                                      epochs, train_subset)
                if not run_io.is_finished(config.output_dir):
                    print(f"train {setting}/{variant} seed {seed} -> {config.output_dir}",
                          flush=True)
                train_lib.train(config)
                runs.append({"run_dir": config.output_dir, "name": variant, "seed": int(seed)})
        kwargs = {"resamples": resamples} if resamples else {}
        documents[setting] = report.box_localization_report(
            runs, data_dir, os.path.join(out_dir, setting), command, **kwargs)
    documents = with_kept_settings(out_dir, documents)
    summary = {"command": command, "settings": {
        s: {"flagfile": SETTINGS[s], "folder": s} for s in documents}}
    run_io.write_json(os.path.join(out_dir, tiny_imagenet_page.RESULTS_FILE), summary)
    return tiny_imagenet_page.write_page(out_dir, documents, command)


def with_kept_settings(out_dir: str, documents: dict) -> dict:
    """``documents`` (``{setting: box-localization document}``) with the settings that were
    not rerun read from ``out_dir`` where an earlier command left them, in :data:`SETTINGS`'
    order."""
    from lsg_tf.analysis.box_localization_report import JSON_FILE

    documents = dict(documents)
    for setting in SETTINGS:
        kept = os.path.join(out_dir, setting, JSON_FILE)
        if setting not in documents and os.path.exists(kept):
            documents[setting] = run_io.read_json(kept)
    return {s: documents[s] for s in SETTINGS if s in documents}
