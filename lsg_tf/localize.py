r"""Localization with one filter and with CAMs of STD and LSG runs (paper section 4.4, Table 3).

  python -m lsg_tf.localize --run=runs/std --run=runs/lsg --names=std,lsg \
      --voc_dir=data/msrc-v2 --out=reports/localization

Reads a VOC-layout folder (JPEGImages, SegmentationClass, classes.txt), maps its classes onto
the models' classes (--class_map; default MSRC/VOC -> CIFAR-10) and writes
``OUT/localization.md`` (Table 3 for each variant), ``OUT/localization.json`` and
``OUT/localization.png`` (paper Fig. 8). Photos are resized to each model's input size and
converted to its channel count (gray = BT.601 luma of RGB).
"""

from __future__ import annotations

import os
import sys

from absl import app, flags

from lsg_tf.reproduction import commands

_RUN = flags.DEFINE_multi_string("run", None, "A finished run folder; repeat for each run.")
_VOC_DIR = flags.DEFINE_string("voc_dir", None, "VOC-layout folder with segmentation masks.")
_OUT = flags.DEFINE_string("out", None, "Folder for localization.md/.json/.png.")
_NAMES = flags.DEFINE_list("names", None, "Comma-separated run labels (default: folder names).")
_MAX_IMAGES = flags.DEFINE_integer("max_images", None,
                                   "Evaluate the first this many images with a mapped class.",
                                   lower_bound=1)
_CLASS_MAP = flags.DEFINE_list(
    "class_map", None, "mask_class:model_class pairs (default: aeroplane:airplane,car:automobile,"
    "bird:bird,cat:cat,dog:dog,boat:ship,horse:horse).")
_VARIANTS = flags.DEFINE_list(
    "variants", ["0.2:0.15", "0.3:0.3"],
    "top_fraction:iou_threshold pairs (the paper's top 20%/AP15; the later top 30%/IoU>0.3).")
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 64, "Inference batch size.", lower_bound=1)
_NOTE = flags.DEFINE_multi_string(
    "note", None, "A paragraph for the report's Notes section (not shown in its command); repeat.")

def _parse_variants(values):
    variants = []
    for value in values:
        top, sep, thr = value.partition(":")
        try:
            pair = (float(top), float(thr))
        except ValueError:
            pair = None
        if not sep or pair is None or not 0 < pair[0] <= 1 or not 0 <= pair[1] < 1:
            raise app.UsageError(f"--variants entry {value!r}: expected top_fraction:iou_threshold "
                                 "with top_fraction in (0, 1] and iou_threshold in [0, 1)")
        variants.append(pair)
    return variants


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    from lsg_tf.cli.console import quiet_logs

    quiet_logs()
    variants = _parse_variants(_VARIANTS.value)
    names = _NAMES.value or [os.path.basename(os.path.normpath(r)) for r in _RUN.value]
    if len(names) != len(_RUN.value):
        raise app.UsageError(f"--names has {len(names)} labels for {len(_RUN.value)} runs")
    from lsg_tf.analysis import localization as loc
    from lsg_tf.analysis.localization_report import MARKDOWN_FILE, localization_report

    class_map = loc.parse_class_map(_CLASS_MAP.value) if _CLASS_MAP.value else None
    command = commands.typed_command("lsg_tf.localize", sys.argv,
                                      dropped=commands.DROPPED + ("--note",))
    localization_report(_RUN.value, names, _VOC_DIR.value, _OUT.value, command,
                        class_map=class_map, variants=variants, max_images=_MAX_IMAGES.value,
                        batch_size=_BATCH_SIZE.value, notes=_NOTE.value or ())
    print(f"report -> {os.path.join(_OUT.value, MARKDOWN_FILE)}")


if __name__ == "__main__":
    flags.mark_flags_as_required(["run", "voc_dir", "out"])
    app.run(main)
