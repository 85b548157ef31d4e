"""The allowed values of the training settings, written once.

A leaf module without TensorFlow: the train CLI validates its flags with these before
TensorFlow loads, and the library modules that own each setting (training, gate, backbones,
data, distribute) check their arguments against the same tuples.
"""

SCHEMES = ("alternate", "joint", "std")  # Algorithm 1, footnote 1, the baseline
PERIOD_UNITS = ("epoch", "step")  # what the alternating scheme's period counts
OPTIMIZERS = ("sgd", "adam", "adamw")
GATE_OPTIMIZERS = ("same", "sgd", "adam")  # "same": G shares the network optimizer
LR_SCHEDULES = ("constant", "step", "cosine", "onecycle")
SPARSITY_FORMS = ("abs", "hinge")  # a|‖G‖₁ − s| (Eq. 2) or a·max(0, ‖G‖₁ − s)
WEIGHT_DECAY_SCOPES = ("kernels", "all")  # "all": every network variable, never G
INITIALIZERS = ("he_normal", "torch_default")
BATCH_NORMS = ("keras", "fused")  # Keras' layer, or the same layer on the fused kernel
AUGMENTATIONS = ("none", "flip", "crop", "crop_flip")  # the CLI adds "auto"
CROP_PADDINGS = ("zeros", "reflect")  # how the random crop pads the image
SHORTCUTS = ("a", "b")  # ResNet20: He et al.'s option A (parameter-free) or B (1x1 conv + BN)
STRATEGIES = ("default", "mirrored", "multi_worker")
