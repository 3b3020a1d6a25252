# Pipelines: KFP v2 training pipeline, local runs, compile and submit (env: pipelines).
ENVS += pipelines
TEST_TARGETS += test-pipelines

SEED ?= 42
TRAIN_STEPS ?= 300
DATASET ?= pipelines/data/intents.jsonl
BASE_MODEL ?=
LEARNING_RATE ?=
REF ?= champion
# make pipeline-submit: extra flags for the submitter (e.g. --schedule "0 3 * * 1" --no-wait).
SUBMIT_ARGS ?=
PIPELINE_SPEC := build/pipelines/training_pipeline.yaml
# The orchestrator the project chose (llmops.yaml training.orchestrator) picks the submitter;
# the other module is removed at generation time.
ORCHESTRATOR = $(shell sed -n 's/^ *orchestrator: *"\{0,1\}\([a-z-]*\)"\{0,1\}.*/\1/p' llmops.yaml)

.PHONY: train test-model pipeline-compile pipeline-submit models model-publish test-pipelines bench-train \
	bench-kernels

train: ## Run the training pipeline locally (KFP local runner) and register the model: [SEED=] [TRAIN_STEPS=] [DATASET=] [BASE_MODEL=] [LEARNING_RATE=]
	@$(call venv,pipelines)
	@$(call py,pipelines) -m pipelines.run_local --seed $(SEED) --steps $(TRAIN_STEPS) \
		--dataset "$(DATASET)" $(if $(BASE_MODEL),--base-model "$(BASE_MODEL)") \
		$(if $(LEARNING_RATE),--learning-rate "$(LEARNING_RATE)")

test-model: ## Train the small model other components' e2e tests serve, into build/test-model/ (cached)
	@$(call venv,pipelines)
	@$(call py,pipelines) -m pipelines.test_model

models: ## List registered model versions, or show one: make models [REF=champion|candidate|3]
	@$(call venv,pipelines)
	@$(call py,pipelines) -m pipelines.registry --list
	@$(call py,pipelines) -m pipelines.registry "$(REF)"

model-publish: ## Copy a registered version to the model bucket GKE serves from: MODEL=candidate|<version> [BUCKET=gs://NAME]
	@test -n "$(MODEL)" || { echo "ERROR: MODEL= is required (an alias or a version, see make models)" >&2; exit 2; }
	@$(call venv,pipelines)
	@$(call py,pipelines) -m pipelines.publish_model "$(MODEL)" \
		$(if $(BUCKET),--bucket "$(BUCKET)")

pipeline-compile: ## Compile the pipeline to IR YAML (build/pipelines/training_pipeline.yaml)
	@$(call venv,pipelines)
	@$(call py,pipelines) -m pipelines.pipeline --out $(PIPELINE_SPEC)

pipeline-submit: pipeline-compile ## Submit the compiled pipeline to Vertex AI Pipelines or the KFP endpoint (per llmops.yaml)
	@case "$(ORCHESTRATOR)" in \
	  vertex-ai-pipelines) module=pipelines.submit_vertex ;; \
	  kubeflow-endpoint) module=pipelines.submit_kfp ;; \
	  *) echo "ERROR: llmops.yaml training.orchestrator='$(ORCHESTRATOR)': expected vertex-ai-pipelines or kubeflow-endpoint" >&2; exit 2 ;; \
	esac; \
	$(call py,pipelines) -m $$module --spec $(PIPELINE_SPEC) --seed $(SEED) --steps $(TRAIN_STEPS) $(SUBMIT_ARGS)

test-pipelines: ## Pipelines tests: data validation, model code, components, compiled spec, submission, local e2e run
	@$(call venv,pipelines)
	@$(call py,pipelines) -m pytest -p no:cacheprovider tests/pipelines

bench-train: ## Stage times of training (prepare, create, train, save, evaluate, register, KFP run): [TRAIN_STEPS=]
	@$(call venv,pipelines)
	@$(call py,pipelines) bench/train_benchmark.py --steps $(TRAIN_STEPS) --kfp

bench-kernels: ## Champion and candidate recipes under four CPU kernel choices, scored on the goldens: [TRAIN_STEPS=]
	@$(call venv,pipelines)
	@$(call py,pipelines) bench/kernel_variation.py --steps $(TRAIN_STEPS)
