"""Table 3 on Tiny ImageNet: the runs' settings from the flagfiles, the bad-argument errors,
and the section of the main results page (with and without the experiment's outputs)."""

import json

import pytest

from lsg_tf.reproduction import tiny_imagenet, tiny_imagenet_page


def test_train_configs_follow_the_flagfiles_and_the_variants(tmp_path):
    scratch = tiny_imagenet.train_config("scratch", "alternate", 1, str(tmp_path), "DATA")
    assert (scratch.dataset, scratch.model, scratch.epochs, scratch.seed) == (
        "tiny_imagenet", "resnet20_stem2", 10, 1)
    assert (scratch.scheme, scratch.warmup_epochs, scratch.phase, scratch.shortcut) == (
        "alternate", 1, 1, "b")
    assert scratch.output_dir == str(tmp_path / "scratch" / "alternate-s1")
    joint = tiny_imagenet.train_config("finetune", "joint", 0, str(tmp_path), "DATA")
    assert (joint.model, joint.backbone_weights, joint.cache_frozen) == (
        "efficientnet_lite0_top2", "imagenet", True)
    assert (joint.optimizer, joint.learning_rate, joint.gate_learning_rate) == ("adam", 1e-4, 3e-2)
    assert (joint.scheme, joint.warmup_epochs, joint.train_subset) == ("joint", 0, 5800)
    smoke = tiny_imagenet.train_config("scratch", "std", 0, str(tmp_path), "DATA", epochs=1,
                                       train_subset=58)
    assert (smoke.epochs, smoke.train_subset, smoke.scheme) == (1, 58, "std")


@pytest.mark.parametrize("kwargs, message", [
    ({"settings": ("scratch", "imagenet")}, "settings: unknown"),
    ({"variants": ("alternate", "joint")}, "variants must include 'std'"),
    ({"seeds": ()}, "seeds: give at least one seed"),
    ({"setting_seeds": {"finetune": ()}}, "seeds: give at least one seed"),
])
def test_bad_arguments_are_refused_before_training(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        tiny_imagenet.reproduce_tiny_imagenet(str(tmp_path / "out"), str(tmp_path / "runs"),
                                              str(tmp_path / "data"), **kwargs)
    assert not (tmp_path / "runs").exists()
    with pytest.raises(ValueError, match="setting must be one of"):
        tiny_imagenet.train_config("voc", "std", 0, str(tmp_path), "DATA")


def _document(lsg_better: bool):
    runs = [{"name": n, "seed": 0, "scheme": n, "model": "resnet20_stem2", "epochs": 10,
             "test_accuracy": 0.5, "gate_density": 1.0 if n == "std" else 0.15,
             "item_accuracy": 0.5} for n in ("std", "joint")]
    totals = []
    for run, value in (("std", 0.2), ("joint", 0.3 if lsg_better else 0.1),
                       ("std_grad_cam", 0.25)):
        for variant in ("top20_ap15", "top30_ap30"):
            totals.append({"run": run, "seed": 0, "variant": variant, "one_filter_avg_iou": value,
                           "one_filter_ap": value, "cam_avg_iou": value, "cam_ap": value,
                           "pointing": value})
    comparisons = [{"metric": "cam_avg_iou", "variant": "top20_ap15", "run": "joint",
                    "baseline": "std", "seed": 0, "lsg": 0.3, "std": 0.2, "difference": 0.1,
                    "low": 0.05, "high": 0.15, "verdict": "reproduces"}]
    per_class = {f"{n} seed 0": [{"fox": 0.2, "owl": 0.4}, {"fox": 0.1 if n == "joint" else 0.3,
                                                          "owl": 0.5}] for n in ("std", "joint")}
    return {"runs": runs, "totals": totals, "comparisons": comparisons,
            "per_class_cam": per_class, "data": {"num_images": 4, "classes": ["fox", "owl"]}}


def test_main_page_section_without_and_with_the_experiment(tmp_path):
    lines = tiny_imagenet_page.main_page_section(str(tmp_path))
    assert "Not run here" in "\n".join(lines)
    folder = tmp_path / "tiny-imagenet"
    (folder / "scratch").mkdir(parents=True)
    (folder / "scratch" / "box_localization.json").write_text(json.dumps(_document(True)))
    (folder / "tiny_imagenet.json").write_text(json.dumps(
        {"command": "python -m lsg_tf.reproduce --localization=tiny_imagenet",
         "settings": {"scratch": {"folder": "scratch"}}}))
    text = "\n".join(tiny_imagenet_page.main_page_section(str(tmp_path)))
    assert "### Setting A: from scratch at 64x64" in text
    assert "| LSG-joint | 0.300 | 0.300 | 0.300 | 0.300 | 0.300 | 0.300 |" in text
    assert "| STD Grad-CAM | — | — | 0.250 |" in text
    assert "reproduces (+0.100 [+0.050, +0.150])" in text
    # fox: joint 0.1 vs STD 0.3 at the top 30% (the second variant): one class worse.
    assert "below STD's in 1 of 2 classes: fox (-0.200)" in text
    assert "](tiny-imagenet/scratch/box_localization.png)" in text


def test_a_setting_not_rerun_keeps_its_results_and_the_page_its_notes(tmp_path):
    (tmp_path / "scratch").mkdir()
    (tmp_path / "scratch" / "box_localization.json").write_text(json.dumps(_document(True)))
    rerun = {"finetune": _document(False)}
    documents = tiny_imagenet.with_kept_settings(str(tmp_path), rerun)
    assert list(documents) == ["scratch", "finetune"]  # the page's order, not the rerun's
    assert documents["scratch"] == _document(True) and documents["finetune"] is rerun["finetune"]
    assert list(tiny_imagenet.with_kept_settings(str(tmp_path / "none"), rerun)) == ["finetune"]
    page = tmp_path / "README.md"
    page.write_text("# old page\n\nold numbers\n\n## Notes on this run\n\n- written by hand\n")
    tiny_imagenet_page.write_page(str(tmp_path), documents, "python -m lsg_tf.reproduce ...")
    text = page.read_text()
    assert "old numbers" not in text
    assert text.endswith("## Notes on this run\n\n- written by hand\n")
    assert text.index("## Setting A") < text.index("## Setting B")
