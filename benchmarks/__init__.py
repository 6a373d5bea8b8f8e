"""The course's benchmarks (chapters 03-04, 11-12, 14, 16): nnlib against torch eager (and onnxruntime).

Run each from the repository root as a module, ``python -m benchmarks.bench_mlp --quick``,
so that ``benchmarks`` and ``tests`` (the GPT benchmark's torch reference) are importable;
nnlib itself comes from ``pip install -e .``. ``benchmarks.models`` builds every model,
``benchmarks._timing`` times them and reports the BLAS and thread settings.
"""
