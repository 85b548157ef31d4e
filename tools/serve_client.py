r"""Sends images to a running TF Serving and prints the top-k classes (or CAM overlays).

  python -m tools.serve_client --model_name=lsg_fashion --images=shoe.png,shirt.png \
      --export_dir=exported
  python -m tools.serve_client --protocol=grpc --model_name=lsg_fashion --images=batch.npy
  python -m tools.serve_client --model_name=lsg_fashion --signature=explain \
      --out_dir=overlays --channels=1 photo.jpg

The command line of :mod:`lsg_tf.serving.client` (requests, answers, images, reports; the
signature contract is :mod:`lsg_tf.serving.signature`). Over REST it needs no TensorFlow;
``--protocol=grpc`` imports it. All images of one call form one request, so they must share
height and width. Extra command-line arguments are taken as more image files, so shell globs
work. Errors are one line on stderr with exit code 1. Also runnable as
``python tools/serve_client.py``.
"""

from __future__ import annotations

import os
import sys

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import flags  # noqa: E402

from lsg_tf.cli import entry  # noqa: E402
from lsg_tf.serving import client  # noqa: E402

_IMAGES = flags.DEFINE_list("images", [], "Image files (png, jpg, or .npy uint8 batches); extra "
                            "arguments are taken as more files.")
_SERVER = flags.DEFINE_string("server", None, "host:port of TF Serving (default localhost:8501 "
                              "for REST, localhost:8500 for gRPC).")
_PROTOCOL = flags.DEFINE_enum("protocol", "rest", client.PROTOCOLS, "rest or grpc.")
_MODEL_NAME = flags.DEFINE_string("model_name", None, "Served model name (as in models.config).")
_VERSION = flags.DEFINE_integer("version", None, "Model version (default: the latest served).",
                                lower_bound=1)
_SIGNATURE = flags.DEFINE_string("signature", client.SERVING_SIGNATURE,
                                 "serving_default (classes) or explain (classes + CAM "
                                 "overlays).")
_REST_FORMAT = flags.DEFINE_enum("rest_format", "instances", client.REST_FORMATS,
                                 "REST body: instances (row format) or inputs (columnar).")
_TOP_K = flags.DEFINE_integer("top_k", 3, "Classes to print per image.", lower_bound=1)
_CLASS_NAMES = flags.DEFINE_string("class_names", None, "A class_names.txt (one name per "
                                   "line); default: print class indices.")
_EXPORT_DIR = flags.DEFINE_string("export_dir", None, "Export folder to take class_names.txt "
                                  "from (<export_dir>/<model_name>/<version>/); a model or "
                                  "version folder works too.")
_CHANNELS = flags.DEFINE_integer("channels", None, "Convert images to 1 (gray) or 3 (RGB) "
                                 "channels before sending; default: as stored.")
_OUT_DIR = flags.DEFINE_string("out_dir", "cam_overlays", "Where explain writes <image>_cam.png.")
_TOP_FILTERS = flags.DEFINE_integer("top_filters", 5, "explain: most active filters to list.",
                                    lower_bound=0)
_ALPHA = flags.DEFINE_float("alpha", 0.5, "explain: CAM weight in the overlay blend, [0, 1].")
_TIMEOUT = flags.DEFINE_float("timeout", 10.0, "Seconds to wait for the server.",
                              lower_bound=0.001)


def main(argv):
    try:
        client.run(list(_IMAGES.value) + list(argv[1:]), _MODEL_NAME.value,
                   protocol=_PROTOCOL.value, server=_SERVER.value, signature=_SIGNATURE.value,
                   version=_VERSION.value, rest_format=_REST_FORMAT.value, top_k=_TOP_K.value,
                   class_names=_CLASS_NAMES.value, export_dir=_EXPORT_DIR.value,
                   channels=_CHANNELS.value, out_dir=_OUT_DIR.value,
                   top_filters=_TOP_FILTERS.value, alpha=_ALPHA.value, timeout=_TIMEOUT.value)
    except (ValueError, FileNotFoundError, client.ServingError) as e:
        sys.exit(f"serve_client: error: {e}")


if __name__ == "__main__":
    flags.mark_flag_as_required("model_name")
    entry.run(main)
