# Evals: deepeval metrics on versioned datasets and prompts, base-vs-head comparison (env: evals).
# make eval [ENDPOINT=http://HOST:PORT/v1] [OUT=build/eval] [PROMPT=name] [MODEL_VERSION=v]
# make eval-compare BASE=<summary.json|endpoint> HEAD=<summary.json|endpoint> [OUT=build/eval]
# A judge for the LLM-as-judge metrics: JUDGE_ENDPOINT=... JUDGE_MODEL=... (exported as-is);
# a guard for output_safety: GUARD_ENDPOINT=... GUARD_MODEL=...
ENVS += evals
TEST_TARGETS += test-evals

EVAL_ARGS = $(if $(PROMPT),--prompt "$(PROMPT)") $(if $(MODEL_VERSION),--model-version "$(MODEL_VERSION)") \
	$(if $(CONCURRENCY),--concurrency $(CONCURRENCY)) $(if $(OUT),--out "$(OUT)")

.PHONY: eval eval-compare eval-flips guard-model test-evals bench-evals

eval: ## Evaluate a model endpoint, write build/eval/summary.json + report.md, exit 1 if the gate fails: [ENDPOINT=] [OUT=] [PROMPT=]
	@$(call venv,evals)
	@$(call py,evals) -m evals.cli run $(if $(ENDPOINT),--endpoint "$(ENDPOINT)") $(EVAL_ARGS)

eval-compare: ## Base vs head on the same cases (compare.json + compare.md): BASE=<summary.json|endpoint> HEAD=<...> [OUT=]
	@test -n "$(BASE)" -a -n "$(HEAD)" || { echo "ERROR: usage: make eval-compare BASE=<summary.json|endpoint> HEAD=<summary.json|endpoint> [OUT=dir]" >&2; exit 2; }
	@$(call venv,evals)
	@$(call py,evals) -m evals.cli compare --base "$(BASE)" --head "$(HEAD)" $(EVAL_ARGS)

eval-flips: ## Run the suite N times without the cache; print the answer flip rate per dataset (flips.json): [N=3] [ENDPOINT=] [OUT=]
	@$(call venv,evals)
	@$(call py,evals) -m evals.cli flips --runs "$(or $(N),3)" $(if $(ENDPOINT),--endpoint "$(ENDPOINT)") $(EVAL_ARGS)

guard-model: ## Train the small output-side guard (Llama Guard's format) into build/test-guard/ (cached); serve it: make serve MODEL=build/test-guard NAME=guard
	@$(call venv,pipelines)
	@$(call py,pipelines) -m pipelines.test_model --guard

test-evals: ## Evals tests: datasets, prompts, metrics, cache, gate, compare, e2e against local vLLM
	@$(call venv,evals)
	@$(call py,evals) -m pytest -p no:cacheprovider tests/evals

bench-evals: ## Eval throughput: cases/s at several concurrency levels and the cached re-run [ENDPOINT=]
	@$(call venv,evals)
	@$(call py,evals) bench/eval_benchmark.py $(if $(ENDPOINT),--endpoint "$(ENDPOINT)")
