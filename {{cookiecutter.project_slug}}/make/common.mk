# Shared helpers (common/): tested in the ops environment, which every machine that runs the
# release tooling has anyway.
TEST_TARGETS += test-common

.PHONY: test-common
test-common: ## Tests of common/ (project config, evidence files)
	@$(call venv,ops)
	@$(call py,ops) -m pytest -p no:cacheprovider tests/common
