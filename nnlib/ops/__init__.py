"""nnlib's operations, one module per family (placeholder; the engine branch provides the real package file)."""
