"""Chapter 00: the exercise checks of every chapter, one module per chapter (``ch10`` ...).

Course content, not framework: a notebook's check cell calls ``chNN.check_<exercise>(...)``
instead of spelling out its cases inline, so that ``tests/course/`` can run the very same
check against the solution, against plausible wrong answers and against the unsolved
stub. Every check prints exactly one line (✅, ⏳ or ❌ naming the problem) and never
raises; it is built on the primitives of :mod:`nnlib.checks`. Import a chapter's module
directly: ``from nnlib.exercises import ch10``.
"""
