"""Choosing training data: which principles a prompt touches, decaying-threshold selection of rows, quality
filters on critiques and revisions."""
