"""The repository's tests: ``tests/nnlib/`` mirrors the package (unit and torch-parity
tests, one folder per subpackage), ``tests/course/`` tests the course itself (exercise
checks, notebooks, figures, Binder and Colab set-up, the seed's program) and
``tests/browser/`` runs the learner notebooks in JupyterLab. ``tests/parity.py`` is the
one torch-parity helper."""
from pathlib import Path

#: The repository's root folder (the one holding nnlib/, solutions/ and data/).
REPO_ROOT = Path(__file__).resolve().parent.parent
