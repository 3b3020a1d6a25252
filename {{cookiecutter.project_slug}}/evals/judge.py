"""LLM-as-judge: deepeval's GEval against any OpenAI-compatible judge, only when one is configured.

Configure with `JUDGE_ENDPOINT` (base URL ending in /v1) and `JUDGE_MODEL` (+ `JUDGE_API_KEY`
when the endpoint needs one), or with deepeval's own local-model settings (`LOCAL_MODEL_BASE_URL`,
`LOCAL_MODEL_NAME`, `LOCAL_MODEL_API_KEY`). Without a judge, judge metrics are skipped and the
report says so: a missing judge never counts as a pass.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

NO_JUDGE_NOTICE = (
    "skipped: no judge endpoint configured (set JUDGE_ENDPOINT=<OpenAI-compatible base URL> and "
    "JUDGE_MODEL=<model name>, or deepeval's LOCAL_MODEL_BASE_URL and LOCAL_MODEL_NAME)"
)


@dataclass(frozen=True)
class JudgeConfig:
    endpoint: str
    model: str
    api_key: str
    seed: int
    # Ask for a JSON object (vLLM, OpenAI and most compatible servers support response_format).
    json_mode: bool = True

    def manifest(self) -> dict[str, Any]:
        return {"endpoint": self.endpoint, "model": self.model, "json_mode": self.json_mode}


def judge_from_env(seed: int, environ: dict[str, str] | None = None) -> JudgeConfig | None:
    env = os.environ if environ is None else environ
    endpoint = env.get("JUDGE_ENDPOINT") or env.get("LOCAL_MODEL_BASE_URL") or ""
    model = env.get("JUDGE_MODEL") or env.get("LOCAL_MODEL_NAME") or ""
    if not endpoint and not model:
        return None
    if not endpoint or not model:
        raise ValueError(
            f"judge half configured (endpoint={endpoint!r}, model={model!r}): set both "
            "JUDGE_ENDPOINT and JUDGE_MODEL, or neither"
        )
    api_key = env.get("JUDGE_API_KEY") or env.get("LOCAL_MODEL_API_KEY") or "not-needed"
    json_mode = env.get("JUDGE_JSON_MODE", "1") not in ("0", "false", "no")
    return JudgeConfig(endpoint.rstrip("/"), model, api_key, seed, json_mode)


def build_judge_metric(name: str, params: dict[str, Any], judge: JudgeConfig):
    """A fresh GEval metric with pinned evaluation steps, scored by the configured judge."""
    from deepeval.metrics import GEval
    from deepeval.models import LocalModel
    from deepeval.test_case import SingleTurnParams

    generation: dict[str, Any] = {"seed": judge.seed}
    if judge.json_mode:
        generation["response_format"] = {"type": "json_object"}
    model = LocalModel(
        model=judge.model,
        base_url=judge.endpoint,
        api_key=judge.api_key,
        temperature=0.0,
        generation_kwargs=generation,
    )
    return GEval(
        name=name,
        evaluation_steps=list(params["evaluation_steps"]),
        evaluation_params=[
            SingleTurnParams.INPUT,
            SingleTurnParams.ACTUAL_OUTPUT,
            SingleTurnParams.EXPECTED_OUTPUT,
        ],
        model=model,
        threshold=float(params.get("threshold", 0.5)),
        async_mode=False,
        verbose_mode=False,
    )
