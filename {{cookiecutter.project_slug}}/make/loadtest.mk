# Load tests: Locust against the OpenAI-compatible endpoint (env: loadtest; see loadtest/README.md).
ENVS += loadtest
TEST_TARGETS += test-loadtest

# make load [ENDPOINT=http://host:port/v1] [OUT=build/load] [USERS=] [DURATION=] [STEPS=1,2,4]
#           [MAX_TOKENS=] [IGNORE_EOS=1] [HARDWARE="1x nvidia-l4 (g2-standard-8)"]
#           [ANALYZE=build/load-gke]   (summarise a distributed run's samples instead of running)
.PHONY: load test-loadtest bench-load

load: ## Locust load test + SLO gate: [ENDPOINT=] [OUT=build/load] [USERS=] [DURATION=] [STEPS=1,2,4] [HARDWARE=]
	@$(call venv,loadtest)
	@$(call py,loadtest) -m loadtest.run --out "$(or $(OUT),build/load)" \
		$(if $(ENDPOINT),--endpoint "$(ENDPOINT)") $(if $(USERS),--users "$(USERS)") \
		$(if $(DURATION),--duration "$(DURATION)") $(if $(STEPS),--steps "$(STEPS)") \
		$(if $(MAX_TOKENS),--max-tokens "$(MAX_TOKENS)") $(if $(IGNORE_EOS),--ignore-eos) \
		$(if $(HARDWARE),--hardware "$(HARDWARE)") \
		$(if $(ANALYZE),--analyze "$(ANALYZE)")

test-loadtest: ## Load-test tests: SSE metric extraction, SLO gate, real Locust vs local vLLM (e2e)
	@$(call venv,loadtest)
	@$(call py,loadtest) -m pytest -p no:cacheprovider tests/loadtest

bench-load: ## Our Locust client side by side with vLLM's own benchmark client on one local server: [MODEL=champion]
	@$(call venv,loadtest)
	@$(call venv,serving)
	@$(call py,loadtest) bench/load_vs_vllm_bench.py --serve "$(or $(MODEL),champion)"
