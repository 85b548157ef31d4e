"""The paper's published numbers, the one place they are written.

*Training Interpretable Convolutional Neural Networks towards Class-Specific Filters* (LSG):

* Table 1: CIFAR-10 ResNet20 (150 epochs on the full training set): test accuracy,
  cross-entropy, L1 norm of the gate as a density ``||G||_1 / (C K)``, and Φ (Eq. 2).
* Table 2: inter-class filter correlation C_IC of ResNet20 and AlexNet on CIFAR-10 (models
  with the fixed gate of appendix C, section 4.3).
* Table 3: localization totals (Avg-IoU, AP15) with one filter and with CAMs, ResNet152 on
  PASCAL VOC crops: a different data set and network than ours, for the claim's direction.
* Table 4: adversarial detection AUC (%) of a random forest on targeted-PGD examples, at
  100 / 500 / 1000 training images per class (ResNet20, CIFAR-10; section 4.5).
* Table 5: clean accuracy and black-box attack success rates (%) (ResNet20, CIFAR-10;
  appendix F).

Plain data, no imports: each report formats the rows it shows from these values.
"""

STD = "STD"
LSG = "LSG"

# Table 1, CIFAR-10 ResNet20. "l1_norm" is the gate's density ||G||_1 / (C K).
TABLE1 = {
    LSG: {"accuracy": 0.9062, "cross_entropy": 6.9762, "l1_norm": 0.1742, "phi": 0.2203},
    STD: {"accuracy": 0.9046, "cross_entropy": 6.8657, "l1_norm": 0.4757, "phi": 0.8234},
}

# Table 2, C_IC per network and model.
TABLE2_C_IC = {
    "ResNet20": {STD: 0.1648, LSG: 0.1022},
    "AlexNet": {STD: 0.1224, LSG: 0.0684},
}

# Table 3, totals of ResNet152 on PASCAL VOC: one filter and CAM, Avg-IoU and AP15.
TABLE3 = {
    STD: {"one_filter_iou": 0.146, "one_filter_ap": 0.432, "cam_iou": 0.147, "cam_ap": 0.438},
    LSG: {"one_filter_iou": 0.343, "one_filter_ap": 0.918, "cam_iou": 0.228, "cam_ap": 0.732},
}

# Table 4, detection AUC (%) at TABLE4_SIZES training images per class.
TABLE4_SIZES = (100, 500, 1000)
TABLE4_AUC = {STD: (72.86, 80.77, 83.64), LSG: (77.39, 85.01, 86.93)}

# Table 5 (%): accuracy without attack, success rates of the one-pixel and local-search attacks.
TABLE5 = {
    STD: {"clean_accuracy": 88.03, "pixel": 14.00, "local_search": 15.00},
    LSG: {"clean_accuracy": 88.85, "pixel": 2.00, "local_search": 2.00},
}
