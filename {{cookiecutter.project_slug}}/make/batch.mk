# Batch inference: a JSONL file scored by vLLM's offline engine (vllm.LLM) in a KFP component
# (pipelines/batch_pipeline.py). Runs in the serving env, which holds vLLM and kfp together.
# make batch INPUT=<file.jsonl|gs://...> [OUTPUT=build/batch] [MODEL=champion|<version>|<dir>|gs://...]
INPUT ?=
OUTPUT ?=
MAX_TOKENS ?=
BATCH_SPEC := build/pipelines/batch_pipeline.yaml

.PHONY: batch batch-compile bench-batch

batch: ## Score a JSONL file with vLLM's offline engine on the KFP local runner: INPUT= [OUTPUT=build/batch] [MODEL=] [MAX_TOKENS=]
	@test -n "$(INPUT)" || { echo "ERROR: INPUT= is required (a JSONL file or gs://BUCKET/PATH)" >&2; exit 2; }
	@$(call venv,serving)
	@$(call py,serving) -m pipelines.run_batch --input "$(INPUT)" \
		$(if $(OUTPUT),--output "$(OUTPUT)") $(if $(MODEL),--model "$(MODEL)") \
		$(if $(MAX_TOKENS),--max-tokens "$(MAX_TOKENS)")

batch-compile: ## Compile the batch pipeline for Vertex AI (build/pipelines/batch_pipeline.yaml; image from BATCH_IMAGE)
	@$(call venv,serving)
	@$(call py,serving) -m pipelines.batch_pipeline --out $(BATCH_SPEC)

bench-batch: ## Batch (vllm.LLM) against the online server on the same prompts: tokens/s, requests/s [MODEL=build/test-model]
	@$(call venv,serving)
	@$(call py,serving) bench/batch_benchmark.py $(if $(MODEL),--model "$(MODEL)")
