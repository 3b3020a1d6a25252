"""Guardrails as code: the CrossGuard policy pack and the release gates."""
