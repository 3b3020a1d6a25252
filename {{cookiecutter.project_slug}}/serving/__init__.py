"""Serving: the single definition of how the model is served (serving.yaml, spec.py), the local
vLLM CPU server (local.py); the GKE deployment of the same definition is infra/serving/."""
