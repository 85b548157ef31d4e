"""Grad-CAM of the STD path on the backbone's last feature map (Selvaraju et al., ICCV 2017).

For an image with last conv feature map ``F`` ``[h, w, K]`` and logits ``z = head(F)``, the map
of class ``c`` is ``ReLU(sum_k alpha_k F_k)`` with ``alpha_k = mean_ij dz_c / dF_ijk``.
An :class:`~lsg_tf.core.model.LSGModel`'s STD path (``model(x)``) is GAP + one Dense layer, so
``dz_c / dF_ijk = W[k, c] / (h w)`` and Grad-CAM is ``ReLU(CAM_c) / (h w)``, the CAM of
paper section 4.4 (Zhou et al. 2016) up to a positive factor; it differs for other heads.
Score the maps with :func:`lsg_tf.analysis.boxes.summarise_maps` or
:func:`~lsg_tf.analysis.boxes.pointing_game`.
"""

from __future__ import annotations

import numpy as np

from lsg_tf.core import features


def grad_cam(model, images, class_indices, batch_size: int = 64, head=None) -> np.ndarray:
    """Grad-CAM maps of one class per image, ``float32 [N, h, w]`` (feature-map resolution).

    Args:
        model: an :class:`~lsg_tf.core.model.LSGModel`.
        images: uint8 (0-255) or float (0-1) ``[N, H, W, C]`` at the model's input size.
        class_indices: ``[N]`` the class of each image's map (e.g. its label).
        batch_size: images per gradient pass.
        head: ``F [B, h, w, K] -> logits [B, C]``; default the STD path's
            ``model.classifier(model.pool(F))``.

    Raises:
        ValueError: images of another size than the model's input, classes outside
            ``[0, num_classes)`` or of another count than the images, or ``batch_size < 1``.
    """
    import tensorflow as tf

    images = features.as_unit_images(images)
    classes = np.asarray(class_indices)
    expected = tuple(model.backbone.input_shape[1:])
    if any(e is not None and e != g for e, g in zip(expected, images.shape[1:])):
        raise ValueError(f"images have shape {images.shape[1:]} per image; the model takes "
                         f"{expected}")
    if classes.shape != (len(images),):
        raise ValueError(f"class_indices must have shape [{len(images)}] (one per image), got "
                         f"{classes.shape}")
    bad = classes[(classes < 0) | (classes >= model.num_classes) | (classes != np.round(classes))]
    if bad.size:
        raise ValueError(f"class_indices: {bad.flat[0].item()!r} is not a class in [0, "
                         f"{model.num_classes})")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
    if head is None:
        def head(fmap):
            return model.classifier(model.pool(fmap))

    @tf.function(reduce_retracing=True)
    def step(batch, batch_classes):
        fmap = model.feature_maps(batch, training=False)
        with tf.GradientTape() as tape:
            tape.watch(fmap)
            chosen = tf.gather(head(fmap), batch_classes, axis=1, batch_dims=1)
        # Each image's logit depends on its own map only: the gradient of the sum is per image.
        weights = tf.reduce_mean(tape.gradient(chosen, fmap), axis=[1, 2])  # [B, K]
        return tf.nn.relu(tf.einsum("bhwk,bk->bhw", fmap, weights))

    chunks = [step(tf.constant(images[s:s + batch_size]),
                   tf.constant(classes[s:s + batch_size].astype(np.int32))).numpy()
              for s in range(0, len(images), batch_size)]
    if not chunks:
        return np.zeros((0,) + tuple(model.backbone.output_shape[1:3]), np.float32)
    return np.concatenate(chunks).astype(np.float32, copy=False)
