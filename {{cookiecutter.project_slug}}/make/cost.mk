# Cost report: the plan priced per resource with the dated price tables; $ per token, request and
# user per GPU pool and at hosted APIs' prices (env: ops; cost/README.md).
TEST_TARGETS += test-cost

# make cost [STACK=dev] [PLAN=build/plan/dev.json | PREVIEW=preview.json] [USAGE=cost/usage.yaml]
#           [LOAD=build/load/summary.json] [BASE_PLAN=base.json] [SERVING_NODES=1] [OUT=build/cost]
.PHONY: cost cost-refresh-prices test-cost

cost: ## Price the plan per resource, $ per token/request/user: [STACK=dev] [PLAN=|PREVIEW=] [USAGE=] [LOAD=] [BASE_PLAN=]
	@$(call venv,ops)
	@$(call py,ops) -m cost.run --stack "$(or $(STACK),dev)" --out "$(or $(OUT),build/cost)" \
		$(if $(PLAN),--plan "$(PLAN)") $(if $(PREVIEW),--preview "$(PREVIEW)") \
		$(if $(USAGE),--usage "$(USAGE)") \
		$(if $(LOAD),--load "$(LOAD)") $(if $(BASE_PLAN),--base-plan "$(BASE_PLAN)") \
		$(if $(SERVING_NODES),--serving-nodes "$(SERVING_NODES)")

cost-refresh-prices: ## Rebuild the dated price tables from the Cloud Billing Catalog API (needs GCP credentials)
	@$(call venv,ops)
	@$(call py,ops) -m cost.refresh_prices

test-cost: ## Cost tests: plan parsing, per-resource prices, roofline, token/user figures, refusals
	@$(call venv,ops)
	@$(call py,ops) -m pytest -p no:cacheprovider tests/cost
