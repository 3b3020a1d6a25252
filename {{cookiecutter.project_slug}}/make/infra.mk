# Infra (Pulumi program) and policies (CrossGuard pack), one environment: infra.
# make plan [STACK=dev] [CONFIG=path/to/Pulumi.<x>.yaml] [POLICY_CONFIG=path.json] [OUT=build/plan]
ENVS += infra
TEST_TARGETS += test-infra

.PHONY: plan plan-all typecheck test-infra bench-plan preview up

plan: ## Offline plan + policy verdicts under mocks -> build/plan/<stack>.{json,md}: [STACK=dev] [CONFIG=]
	@$(call venv,infra)
	@$(call py,infra) -m infra.plan --stack "$(or $(STACK),dev)" \
		$(if $(CONFIG),--config "$(CONFIG)") $(if $(POLICY_CONFIG),--policy-config "$(POLICY_CONFIG)") \
		$(if $(OUT),--out "$(OUT)")

plan-all: ## Offline plan of every stack file infra/Pulumi.<stack>.yaml, in one process
	@$(call venv,infra)
	@$(call py,infra) -m infra.plan --all-stacks $(if $(OUT),--out "$(OUT)")

typecheck: ## mypy over infra/ and policies/ (cache in build/.mypy_cache)
	@$(call venv,infra)
	@$(call py,infra) -m mypy --cache-dir build/.mypy_cache infra policies

test-infra: ## Infra + policy tests under Pulumi mocks (env: infra)
	@$(call venv,infra)
	@$(call py,infra) -m pytest -p no:cacheprovider tests/infra tests/policies

bench-plan: ## Wall time of the offline plan per stack
	@$(call venv,infra)
	@$(call py,infra) bench/plan_benchmark.py

# Real runs (credentials, the Pulumi CLI and a logged-in backend; see infra/README.md).
preview: ## pulumi preview with the policy pack: STACK=dev (needs GCP credentials)
	@$(call venv,infra)
	cd infra && pulumi preview --stack "$(or $(STACK),dev)" --diff \
		--policy-pack ../policies --policy-pack-config "../policies/config/$(or $(STACK),dev).json"

up: ## pulumi up with the policy pack: STACK=dev (needs GCP credentials)
	@$(call venv,infra)
	cd infra && pulumi up --stack "$(or $(STACK),dev)" \
		--policy-pack ../policies --policy-pack-config "../policies/config/$(or $(STACK),dev).json"
