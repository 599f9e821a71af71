"""Foundations: user errors (exit code 2), atomic file IO, strict config models, the protocols, progress,
statistics, run folders, checkpoints and fingerprints. Imports nothing else from phronesis."""
