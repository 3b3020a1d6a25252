"""What the vLLM pods mount besides the weights: the hub token and the request-log config.

- The model-hub token is read from Secret Manager by the serving identity itself, through GKE's
  Secret Manager add-on (a SecretProviderClass mounted as an in-memory file, HF_TOKEN_PATH): no
  copy in etcd or in Pulumi state, rotation needs no `pulumi up`, and only the serving identity
  can read it (Google's recommended form over syncing into a Kubernetes Secret).
- Each request and answer is logged by vLLM itself as one redacted JSON line on stdout
  (serving/request_log.py): the logging config and its one-file formatter ship in a ConfigMap
  mounted read-only, named by VLLM_LOGGING_CONFIG_PATH and found via PYTHONPATH, exactly as the
  local server loads them. Cloud Logging parses JSON lines into jsonPayload (with `severity`),
  and the log sink routes them to BigQuery for `make monitor`.
- The weights check (common/weights_check.py, stdlib only) ships in a ConfigMap too: the Pod's
  init container runs it against the mounted version before vLLM starts.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pulumi

from common import weights_check
from infra.serving.args import ServingOnGkeArgs
from infra.serving.metadata import obj
from serving import request_log
from serving.spec import ServingSpec

HUB_TOKEN_DIR = "/var/run/secrets/model-hub"
HUB_TOKEN_FILE = "hf-token"
# The request log (serving/request_log.py): vLLM loads its logging config and formatter from a
# ConfigMap mounted here, as the local server loads them from build/serving/ and serving/.
REQUEST_LOG_CONFIG_MAP = "vllm-request-log"
REQUEST_LOG_DIR = "/etc/llmops/request-log"
WEIGHTS_CHECK_CONFIG_MAP = "vllm-weights-check"
WEIGHTS_CHECK_DIR = "/etc/llmops/weights-check"
WEIGHTS_CHECK_FILE = "weights_check.py"


def request_log_files(spec: ServingSpec) -> dict[str, str]:
    """The ConfigMap's files: vLLM's logging config and the one-file formatter it names."""
    return {
        "logging.json": json.dumps(spec.logging_config(), indent=2, sort_keys=True),
        f"{request_log.MODULE}.py": Path(request_log.__file__).read_text(encoding="utf-8"),
    }


def request_log_digest(spec: ServingSpec) -> str:
    """Names the ConfigMap's content in the pod template (a ConfigMap edit alone rolls nothing)."""
    files = json.dumps(request_log_files(spec), sort_keys=True)
    return hashlib.sha256(files.encode()).hexdigest()[:16]


def request_log_config_map(
    args: ServingOnGkeArgs, spec: ServingSpec, labels: dict[str, str]
) -> dict[str, Any]:
    files = request_log_files(spec)
    return obj("v1", "ConfigMap", REQUEST_LOG_CONFIG_MAP, args, labels, data=files)


def weights_check_files() -> dict[str, str]:
    return {WEIGHTS_CHECK_FILE: Path(weights_check.__file__).read_text(encoding="utf-8")}


def weights_check_config_map(args: ServingOnGkeArgs, labels: dict[str, str]) -> dict[str, Any]:
    return obj(
        "v1", "ConfigMap", WEIGHTS_CHECK_CONFIG_MAP, args, labels, data=weights_check_files()
    )


def secret_provider_class(
    args: ServingOnGkeArgs, labels: dict[str, str], resource_name: Any
) -> dict[str, Any]:
    """GKE's Secret Manager add-on: the hub token's latest version as an in-memory file."""

    def secrets(name: str) -> str:
        return f'- resourceName: "{name}"\n  path: "{HUB_TOKEN_FILE}"\n'

    value = (
        pulumi.Output.from_input(resource_name).apply(secrets)
        if isinstance(resource_name, pulumi.Output)
        else secrets(resource_name)
    )
    return obj(
        "secrets-store.csi.x-k8s.io/v1",
        "SecretProviderClass",
        "model-hub-token",
        args,
        labels,
        spec={"provider": "gke", "parameters": {"secrets": value}},
    )
