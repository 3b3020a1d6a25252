# Serving: one definition (serving/serving.yaml) run locally by vLLM's CPU build (env: serving);
# the GKE side of the same definition is declared by infra/serving/ (env: infra).
ENVS += serving
TEST_TARGETS += test-serving test-serving-gke

# make serve [MODEL=champion|candidate|<version>|<dir>] [NAME=stable] [PORT=] [SERVE_TIMEOUT=]
MODEL ?=
NAME ?= stable
PORT ?=
SERVE_TIMEOUT ?=

.PHONY: serve serve-stop serve-check test-serving test-serving-gke bench-serve

serve: ## Serve a model locally with vLLM (CPU): [MODEL=champion|candidate|<version>|<dir>] [NAME=stable] [PORT=]
	@$(call venv,serving)
	@$(call py,serving) -m serving.local start --name "$(NAME)" \
		$(if $(MODEL),--model "$(MODEL)") $(if $(PORT),--port "$(PORT)") \
		$(if $(SERVE_TIMEOUT),--timeout "$(SERVE_TIMEOUT)")

serve-stop: ## Stop the local server started by `make serve` [NAME=stable]
	@$(call venv,serving)
	@$(call py,serving) -m serving.local stop --name "$(NAME)"

serve-check: ## One real chat completion against the local server [NAME=stable]; a dead one is cleaned up
	@$(call venv,serving)
	@$(call py,serving) -m serving.local check --name "$(NAME)"

test-serving: ## Serving tests: the definition, the local launcher, real vLLM CPU end to end (e2e)
	@$(call venv,serving)
	@$(call py,serving) -m pytest -p no:cacheprovider tests/serving

test-serving-gke: ## GKE serving objects: schema validation, labels/ports/GPU limits, Pulumi component under mocks
	@$(call venv,infra)
	@$(call py,infra) -m pytest -p no:cacheprovider tests/serving_gke

bench-serve: ## Benchmark local serving: start-up time and a short throughput figure [MODEL=build/test-model]
	@$(call venv,serving)
	@$(call py,serving) bench/serve_benchmark.py $(if $(MODEL),--model "$(MODEL)")
