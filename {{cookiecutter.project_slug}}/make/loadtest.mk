# Load tests: Locust against the OpenAI-compatible endpoint (env: loadtest; see loadtest/README.md).
ENVS += loadtest
TEST_TARGETS += test-loadtest

# make load [ENDPOINT=http://host:port/v1] [OUT=build/load] [USERS=] [DURATION=] [STEPS=1,2,4]
#           [RATE=2]  (open loop: Poisson arrivals, req/s; USERS= is then the pool of senders)
#           [WORKERS=2]  (Locust master + N worker processes on this machine, samples merged)
#           [MAX_TOKENS=] [IGNORE_EOS=1] [PROMPTS=file.jsonl] [HARDWARE="1x nvidia-l4 (g2-standard-8)"]
#           [ANALYZE=build/load-gke]   (summarise a distributed run's samples instead of running)
# make load-knee [ENDPOINT=] [OUT=build/load-knee] [WORKERS=] [USERS=]   (highest rate in the SLOs)
LOAD_ARGS = $(if $(ENDPOINT),--endpoint "$(ENDPOINT)") $(if $(USERS),--users "$(USERS)") \
	$(if $(WORKERS),--workers "$(WORKERS)") $(if $(MAX_TOKENS),--max-tokens "$(MAX_TOKENS)") \
	$(if $(IGNORE_EOS),--ignore-eos) $(if $(PROMPTS),--prompts "$(PROMPTS)") \
	$(if $(HARDWARE),--hardware "$(HARDWARE)")

.PHONY: load load-knee test-loadtest bench-load

load: ## Locust load test + SLO gate: [ENDPOINT=] [OUT=build/load] [USERS=] [RATE=] [WORKERS=] [DURATION=] [STEPS=1,2,4] [HARDWARE=]
	@$(call venv,loadtest)
	@$(call py,loadtest) -m loadtest.run --out "$(or $(OUT),build/load)" $(LOAD_ARGS) \
		$(if $(RATE),--rate "$(RATE)") $(if $(DURATION),--duration "$(DURATION)") \
		$(if $(STEPS),--steps "$(STEPS)") $(if $(ANALYZE),--analyze "$(ANALYZE)")

load-knee: ## Knee search: the highest open-loop rate that meets every SLO, curve + plot: [ENDPOINT=] [OUT=build/load-knee] [WORKERS=]
	@$(call venv,loadtest)
	@$(call py,loadtest) -m loadtest.run --knee --out "$(or $(OUT),build/load-knee)" $(LOAD_ARGS)

test-loadtest: ## Load-test tests: SSE metric extraction, SLO gate, real Locust vs local vLLM (e2e)
	@$(call venv,loadtest)
	@$(call py,loadtest) -m pytest -p no:cacheprovider tests/loadtest

bench-load: ## Our Locust client side by side with vLLM's own benchmark client on one local server: [MODEL=champion] [RATE=]
	@$(call venv,loadtest)
	@$(call venv,serving)
	@$(call py,loadtest) bench/load_vs_vllm_bench.py --serve "$(or $(MODEL),champion)" \
		$(if $(RATE),--rate "$(RATE)")
