# lsg-tf: `make demo` trains the offline default, `make test` runs the test suite.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
FASHION_DIR ?= /usr/share/datasets/fashion-mnist
DEMO_DIR ?= runs/demo

.PHONY: setup data bazel demo test test-slow lint clean bazel-test bench reproduce package-check

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -r requirements.txt -r requirements-dev.txt
	touch $@

# Bazel 4.2.3 from Debian (bazel-bootstrap), for `make bazel-test`.
bazel:
	@if ! command -v bazel >/dev/null; then \
	  echo "Installing Bazel (Debian package bazel-bootstrap)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get install -y -q bazel-bootstrap >/dev/null || \
	  { $$SUDO apt-get update -q >/dev/null && $$SUDO apt-get install -y -q bazel-bootstrap >/dev/null; }; \
	fi

# Fashion-MNIST IDX files from the Debian package (the offline default data set).
data:
	@if [ ! -f $(FASHION_DIR)/train-images-idx3-ubyte.gz ]; then \
	  echo "Installing Fashion-MNIST (Debian package dataset-fashion-mnist)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get install -y -q dataset-fashion-mnist >/dev/null || \
	  { $$SUDO apt-get update -q >/dev/null && $$SUDO apt-get install -y -q dataset-fashion-mnist >/dev/null; }; \
	fi

# LSG ResNet20 on a Fashion-MNIST subset, a few minutes on a CPU.
demo: setup data
	$(PY) -m lsg_tf.train --flagfile=fashion.flags --output_dir=$(DEMO_DIR)

test: setup data
	$(PY) -m pytest -q -m "not slow"

# ruff (pyproject.toml: pycodestyle, pyflakes, import order, lines of at most 100 characters).
lint: setup
	$(VENV)/bin/ruff check .

# Heavier checks (longer real-data runs); not part of `make test`.
test-slow: setup data
	$(PY) -m pytest -q -m slow

# The benchmarks (docs/benchmarks.md); torch only for bench/vs_pytorch.py. Pass the
# CIFAR-10 image-folder tree as CIFAR_DIR for the input-pipeline benchmark (else a generated one).
CIFAR_DIR ?=
MSRC_DIR ?=
bench: setup
	$(VENV)/bin/pip install -q -r bench/requirements.txt
	$(PY) bench/lsg_overhead.py
	$(PY) bench/phi_cost.py
	$(PY) bench/input_pipeline.py $(if $(CIFAR_DIR),--data_dir=$(CIFAR_DIR))
	$(PY) bench/vs_pytorch.py
	$(PY) bench/serving.py
	$(PY) bench/one_pixel.py
	$(PY) bench/frozen_cache.py

# The paper's tables at a CPU budget (docs/results): CIFAR-10 image-folder tree and MSRC-v2.
reproduce: setup
	$(PY) -m lsg_tf.reproduce --budget=cpu --seeds=0,1,2 --data_dir=$(CIFAR_DIR) --voc_dir=$(MSRC_DIR) --out=docs/results

clean:
	rm -rf $(VENV) runs .pytest_cache

# The test suite through Bazel (Debian package bazel-bootstrap; README section "Bazel"),
# offline, with the virtualenv of `make setup`; stops the Bazel server whatever the result.
bazel-test: setup data bazel
	LSG_TF_VENV=$(abspath $(VENV)) bazel test //...; status=$$?; bazel shutdown; exit $$status

# `pip install .` into a fresh virtualenv, then the package from another folder: a tiny training
# run on a packaged flagfile, the CIFAR-10 reproduction's stages checked against their CLIs, the
# attack CLI's help, and a tiny reproduction (Table 3 on a generated miniature Tiny ImageNet: one variant, one epoch,
# no attacks; about a minute).
PKG_VENV ?= /tmp/lsg-tf-package-check
package-check: data
	rm -rf $(PKG_VENV) build
	$(PYTHON) -m venv $(PKG_VENV)
	$(PKG_VENV)/bin/pip install -q --upgrade pip
	$(PKG_VENV)/bin/pip install -q .
	rm -rf build
	mkdir -p $(PKG_VENV)/work
	cd $(PKG_VENV)/work && $(PKG_VENV)/bin/python -c "import lsg_tf; print(lsg_tf.LSGModel)"
	cd $(PKG_VENV)/work && $(PKG_VENV)/bin/python -m lsg_tf.train --flagfile=fashion.flags \
	  --train_subset=256 --test_subset=100 --epochs=1 --batch_size=64 --verbose=0 \
	  --export_dir= --output_dir=$(PKG_VENV)/run
	cd $(PKG_VENV)/work && $(PKG_VENV)/bin/python -c "from lsg_tf.reproduction import \
	  reproduce_lib as r; [r.check_stage_flags(b, {'std': 'runs/std'}, 'out', 'voc') \
	  for b in r.BUDGETS.values()]; print('reproduction stages: flags checked')"
	cd $(PKG_VENV)/work && $(PKG_VENV)/bin/python -m lsg_tf.attack_eval --help | grep -- --detect_train_per_class >/dev/null
	$(PKG_VENV)/bin/python -m tools.tiny_imagenet_sample --out=$(PKG_VENV)/tiny-imagenet
	cd $(PKG_VENV)/work && $(PKG_VENV)/bin/python -m lsg_tf.reproduce \
	  --localization=tiny_imagenet --data_dir=$(PKG_VENV)/tiny-imagenet --tiny_settings=scratch \
	  --variants=std --seeds=0 --epochs=1 --train_subset=128 --runs_dir=$(PKG_VENV)/runs \
	  --out=$(PKG_VENV)/results
	test -s $(PKG_VENV)/results/README.md
