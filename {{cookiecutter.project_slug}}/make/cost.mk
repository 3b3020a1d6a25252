# Cost report: the plan priced with the dated price tables, $ per 1M tokens (env: ops; cost/README.md).
TEST_TARGETS += test-cost

# make cost [STACK=dev] [PLAN=build/plan/dev.json | PREVIEW=preview.json]
#           [LOAD=build/load/summary.json] [BASE_PLAN=base.json] [SERVING_NODES=1] [OUT=build/cost]
.PHONY: cost cost-refresh-prices test-cost

cost: ## Price the plan and $ per 1M output tokens: [STACK=dev] [PLAN=|PREVIEW=] [LOAD=] [BASE_PLAN=]
	@$(call venv,ops)
	@$(call py,ops) -m cost.run --stack "$(or $(STACK),dev)" --out "$(or $(OUT),build/cost)" \
		$(if $(PLAN),--plan "$(PLAN)") $(if $(PREVIEW),--preview "$(PREVIEW)") \
		$(if $(LOAD),--load "$(LOAD)") $(if $(BASE_PLAN),--base-plan "$(BASE_PLAN)") \
		$(if $(SERVING_NODES),--serving-nodes "$(SERVING_NODES)")

cost-refresh-prices: ## Rebuild the dated price tables from the Cloud Billing Catalog API (needs GCP credentials)
	@$(call venv,ops)
	@$(call py,ops) -m cost.refresh_prices

test-cost: ## Cost tests: plan/preview parsing, arithmetic against the price table, refusals
	@$(call venv,ops)
	@$(call py,ops) -m pytest -p no:cacheprovider tests/cost
