"""Locust load tests for the OpenAI-compatible serving endpoint (see loadtest/README.md)."""
