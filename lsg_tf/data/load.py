""":func:`load_dataset`: the loader picked by data set name (IDX, image folder, Tiny ImageNet
or TFDS)."""

from __future__ import annotations

from lsg_tf.data.idx import load_fashion_mnist
from lsg_tf.data.image_folder import load_image_folder
from lsg_tf.data.splits import ImageSplits
from lsg_tf.data.tfds import TFDS_BARE_NAMES, load_tfds
from lsg_tf.data.tiny_imagenet import load_tiny_imagenet

__all__ = ["load_dataset"]


def load_dataset(
    name: str,
    data_dir: str | None = None,
    image_size: tuple[int, int] | None = None,
    cache_dir: str | None = None,
) -> ImageSplits:
    """Loads a data set by name.

    Allowed names:
        * "fashion_mnist": IDX files in data_dir (default FASHION_MNIST_DEFAULT_DIR); offline.
        * "image_folder": load_image_folder(data_dir, image_size, cache_dir); data_dir required.
        * "tiny_imagenet": load_tiny_imagenet(data_dir, cache_dir), the Tiny ImageNet layout
          (val/ is the test split); data_dir required.
        * "tfds:<name>" or a bare name in TFDS_BARE_NAMES ("cifar10", "cifar100", "mnist"):
          load_tfds(name, data_dir), which never downloads.

    Args:
        name: one of the forms above.
        data_dir: data folder (meaning depends on the form, see above).
        image_size: (H, W) resize target; only supported for "image_folder".
        cache_dir: decoded-array cache folder; only used by "image_folder" and "tiny_imagenet".

    Returns:
        The loaded ImageSplits.

    Raises:
        ValueError: unknown name, missing data_dir for "image_folder" or "tiny_imagenet",
            image_size for another data set, or any loader error.
    """
    allowed = (
        f"'fashion_mnist', 'image_folder' (with data_dir), 'tiny_imagenet' (with data_dir), "
        f"'tfds:<name>', or one of "
        f"{', '.join(repr(n) for n in TFDS_BARE_NAMES)}"
    )
    if name != "image_folder" and image_size is not None:
        raise ValueError(
            f"image_size={image_size} is only supported for dataset 'image_folder', not {name!r}"
        )
    if name == "fashion_mnist":
        return load_fashion_mnist(data_dir)
    if name == "image_folder":
        if not data_dir:
            raise ValueError("dataset 'image_folder' needs data_dir=<root with train/ and test/>")
        return load_image_folder(data_dir, image_size=image_size, cache_dir=cache_dir)
    if name == "tiny_imagenet":
        if not data_dir:
            raise ValueError("dataset 'tiny_imagenet' needs data_dir=<folder with wnids.txt, "
                             "words.txt, train/ and val/>")
        return load_tiny_imagenet(data_dir, cache_dir=cache_dir)
    if name.startswith("tfds:") and len(name) > len("tfds:"):
        return load_tfds(name[len("tfds:"):], data_dir)
    if name in TFDS_BARE_NAMES:
        return load_tfds(name, data_dir)
    raise ValueError(f"unknown dataset {name!r}; allowed: {allowed}")
