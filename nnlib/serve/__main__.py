"""Chapter 14: ``python -m nnlib.serve MODEL [--host 127.0.0.1] [--port N]`` (see :func:`nnlib.serve.main`)."""
import sys

from . import main

sys.exit(main())
