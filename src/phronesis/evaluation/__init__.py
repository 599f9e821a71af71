"""Evaluation metrics, statistics and consistency scores."""
