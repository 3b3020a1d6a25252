"""Evals: datasets, versioned prompts, deepeval metrics, runner, comparison and gate."""
