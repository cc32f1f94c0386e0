"""Shared pytest set-up: quiet TensorFlow, a headless matplotlib, and the zoo on the path."""

from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("MPLBACKEND", "Agg")
sys.path.insert(0, os.path.dirname(__file__))

# Choose Keras' backend the way ae_magic does (KERAS_BACKEND, else an
# installed one) before any test module runs its own `import keras`.
from ae_magic.backends import import_keras

import_keras()
