"""In-memory image data sets and deterministic, resumable tf.data input pipelines.

The data sets used for LSG training (Fashion-MNIST, CIFAR-10/100 and the 128x128 PASCAL VOC
object crops of paper Section 4, "Training setting") fit in memory, so every loader returns uint8
numpy arrays wrapped in an :class:`ImageSplits`. Training pipelines are built on top of those
arrays with *stateless*, epoch-indexed randomness: the example order and the augmentation of epoch
``e`` depend only on ``(seed, e)``, so a run resumed at epoch ``e`` sees exactly the batches an
uninterrupted run would have seen.

Loaders:

* :func:`load_fashion_mnist` reads the four original IDX files (gzip-compressed or raw), e.g. from
  the Debian/Ubuntu package ``dataset-fashion-mnist`` (no network needed).
* :func:`load_image_folder` reads a ``<root>/{train,test}/<class>/<image>`` tree.
* :func:`load_tiny_imagenet` reads the Tiny ImageNet layout (``wnids.txt``, ``train/``, ``val/``
  as the test split); :func:`load_tiny_imagenet_boxes` gives its bounding boxes, in the order of
  a split's images, and :func:`read_wnids` its classes' wnids in label order.
* :func:`load_tfds` reads an already prepared TensorFlow Datasets data set, never downloading.
* :func:`load_dataset` dispatches on a data set name.

One module per part; this package re-exports their names (``data.X`` as before the split):

* :mod:`~lsg_tf.data.splits`: :class:`ImageSplits` and :func:`validate_arrays` (numpy only).
* :mod:`~lsg_tf.data.idx`: Fashion-MNIST IDX files (numpy only).
* :mod:`~lsg_tf.data.image_folder`: image-folder trees and their decoded-array cache.
* :mod:`~lsg_tf.data.tiny_imagenet`: Tiny ImageNet and its boxes (decoded-array cache of
  image_folder).
* :mod:`~lsg_tf.data.tfds`: prepared TFDS data sets.
* :mod:`~lsg_tf.data.load`: :func:`load_dataset`, the loader picked by name.
* :mod:`~lsg_tf.data.subsets`: stratified subsets and the validation hold-out (numpy only).
* :mod:`~lsg_tf.data.pipeline`: tf.data pipelines, augmentation and :func:`resize_images`.
* :mod:`~lsg_tf.data.voc`: photos and per-pixel class masks in the PASCAL VOC folder layout
  (localization, section 4.4); not re-exported here.

A function is looked up in the module that defines it: to replace one in a test, patch that
module (e.g. ``lsg_tf.data.image_folder._decode_files``), not this package.
"""

from lsg_tf.data.idx import (
    FASHION_MNIST_CLASS_NAMES,
    FASHION_MNIST_DEFAULT_DIR,
    load_fashion_mnist,
    read_idx,
)
from lsg_tf.data.image_folder import IMAGE_EXTENSIONS, _decode_files, load_image_folder
from lsg_tf.data.load import load_dataset
from lsg_tf.data.pipeline import (
    AUGMENTATIONS,
    CROP_PADDING,
    NO_FLIP_DATASETS,
    default_augmentation,
    make_eval_dataset,
    make_feature_dataset,
    make_train_dataset,
    pipeline_options,
    resize_images,
    steps_per_epoch,
)
from lsg_tf.data.splits import ImageSplits, validate_arrays
from lsg_tf.data.subsets import (
    _stratified_index,
    apply_subsets,
    hold_out_validation,
    stratified_subset,
)
from lsg_tf.data.tfds import TFDS_BARE_NAMES, load_tfds
from lsg_tf.data.tiny_imagenet import (
    TinyImageNetBoxes,
    load_tiny_imagenet,
    load_tiny_imagenet_boxes,
    read_wnids,
)

__all__ = [
    "AUGMENTATIONS",
    "CROP_PADDING",
    "FASHION_MNIST_CLASS_NAMES",
    "FASHION_MNIST_DEFAULT_DIR",
    "IMAGE_EXTENSIONS",
    "TFDS_BARE_NAMES",
    "ImageSplits",
    "TinyImageNetBoxes",
    "apply_subsets",
    "default_augmentation",
    "load_dataset",
    "load_fashion_mnist",
    "load_image_folder",
    "load_tfds",
    "load_tiny_imagenet",
    "load_tiny_imagenet_boxes",
    "make_eval_dataset",
    "make_feature_dataset",
    "make_train_dataset",
    "read_idx",
    "read_wnids",
    "steps_per_epoch",
    "stratified_subset",
    "validate_arrays",
]
