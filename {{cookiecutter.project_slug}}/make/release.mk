# Release: the canary controller, the PR comment and the HTML report (env: ops).
ENVS += ops
TEST_TARGETS += test-release

BACKEND ?= local
STACK ?= dev
CANDIDATE ?=
# Extra variables for the `make eval` / `make load` runs at each canary step (keep them short
# locally: every step measures both servers).
CANARY_EVAL_ARGS ?=
CANARY_LOAD_ARGS ?=
CANARY_FLAGS ?=
# gke backend: the URLs the gate measures (default: the stack outputs serving_<side>_endpoint).
STABLE_ENDPOINT ?=
CANARY_ENDPOINT ?=
# The release tag (CI: the pushed tag). With it, a re-run of the tag is idempotent: a decided
# tag changes nothing, one that was cut short restarts on the versions it pinned.
TAG ?=
# Seconds each canary phase (prepare, warm-up, each step, promotion, rollback) may take;
# empty: `canary.step_timeout_s` in policies/gates.yaml.
CANARY_STEP_TIMEOUT ?=
# The demo's second model version: the same training recipe (seed, steps) on version 2 of the
# data (pipelines/data/README.md), so the data is the only change the canary judges. Set
# CANDIDATE_FROM=champion to continue from the champion's weights instead (LoRA, as for a real
# base model); on the embedded tiny model that gains far less than retraining on the new data.
CANDIDATE_FROM ?=
CANDIDATE_DATASET ?= pipelines/data/intents-v2.jsonl
# Pull requests: the base branch checked out beside the head (actions/checkout path: .base).
BASE_DIR ?= .base

.PHONY: canary canary-recover release-state-fetch release-persist demo-canary registry-promote report test-release release-publish train-candidate \
	eval-base plan-base smoke bench-demo

canary: ## Canary stable vs candidate, step by step; promote or roll back (BACKEND=local|gke STACK= CANDIDATE=)
	@$(call venv,ops)
	@$(call py,ops) -m release.canary --backend $(BACKEND) --stack $(STACK) \
		--candidate "$(CANDIDATE)" --eval-args "$(CANARY_EVAL_ARGS)" \
		--load-args "$(CANARY_LOAD_ARGS)" --stable-endpoint "$(STABLE_ENDPOINT)" \
		--canary-endpoint "$(CANARY_ENDPOINT)" --tag "$(TAG)" \
		$(if $(CANARY_STEP_TIMEOUT),--step-timeout "$(CANARY_STEP_TIMEOUT)") $(CANARY_FLAGS)

canary-recover: ## After a killed canary run: put traffic back on stable from build/canary/state.json
	@$(call venv,ops)
	@$(call py,ops) -m release.canary --recover --backend $(BACKEND) --stack $(STACK) \
		--stable-endpoint "$(STABLE_ENDPOINT)" --canary-endpoint "$(CANARY_ENDPOINT)" \
		$(if $(CANARY_STEP_TIMEOUT),--step-timeout "$(CANARY_STEP_TIMEOUT)") $(CANARY_FLAGS)

release-state-fetch: ## CI: the canary state an earlier run of TAG attached to its GitHub Release (needs gh)
	@test -n "$(TAG)" || { echo "ERROR: TAG= is required (e.g. v1.2.3)" >&2; exit 2; }
	@mkdir -p build/canary
	@gh release download "$(TAG)" --pattern state.json --dir build/canary --clobber 2>/dev/null \
		&& echo "==> resuming tag $(TAG) from its recorded state" \
		|| echo "==> no recorded state for tag $(TAG): a first run"

release-persist: ## CI: after a promotion, open the PR that sets serving.stable_model in infra/Pulumi.$(STACK).yaml
	@test -n "$(TAG)" || { echo "ERROR: TAG= is required (e.g. v1.2.3)" >&2; exit 2; }
	@$(call venv,ops)
	@$(call py,ops) -m release.persist --tag "$(TAG)" --stack "$(STACK)"

registry-promote: ## Move the MLflow `champion` alias to a model version: make registry-promote VERSION=2
	@test -n "$(VERSION)" || { echo "ERROR: VERSION= is required (a registered model version)" >&2; exit 2; }
	@$(call venv,pipelines)
	@$(call py,pipelines) -m release.registry promote "$(VERSION)"

# The demo's steps soak 15 s per side (a real release soaks minutes: CANARY_LOAD_ARGS).
DEMO_CANARY_LOAD_ARGS ?= DURATION=15
demo-canary: ## The demo's canary stage: a verdict either way (promoted or rolled back); fails only if it could not decide
	@rm -f build/canary/decision.json; rc=0; \
	$(MAKE) canary CANARY_LOAD_ARGS="$(or $(CANARY_LOAD_ARGS),$(DEMO_CANARY_LOAD_ARGS))" || rc=$$?; \
	test -f build/canary/decision.json || { echo "ERROR: the canary wrote no decision (exit $$rc)" >&2; exit 2; }; \
	verdict=$$(sed -n 's/.*"verdict": *"\([a-z_]*\)".*/\1/p' build/canary/decision.json | head -1); \
	echo "==> canary verdict: $${verdict:-unknown} (build/canary/decision.md)"

train-candidate: ## Train the canary's model: the same recipe on CANDIDATE_DATASET (data v2) [CANDIDATE_FROM=champion]
	@$(MAKE) train DATASET=$(CANDIDATE_DATASET) $(if $(CANDIDATE_FROM),BASE_MODEL=$(CANDIDATE_FROM))

# The base checkout runs its own targets in its own environments (.base/.venv), so a pull
# request that changes a lock file never mixes the two.
eval-base: ## PR evals: the base checkout (BASE_DIR) trains, serves and evals its model into build/eval-base
	@test -f "$(BASE_DIR)/Makefile" || { echo "ERROR: BASE_DIR=$(BASE_DIR) is not a checkout of this project (no Makefile)" >&2; exit 2; }
	@base=$$(cd "$(BASE_DIR)" && pwd); out=$(CURDIR)/build/eval-base; \
	  env -u VENVS $(MAKE) -C "$$base" train && \
	  env -u VENVS $(MAKE) -C "$$base" serve NAME=base && \
	  endpoint=$$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["endpoint"])' "$$base/build/serving/base.json") && \
	  { rc=0; env -u VENVS $(MAKE) -C "$$base" eval OUT="$$out" ENDPOINT="$$endpoint" || rc=$$?; \
	    env -u VENVS $(MAKE) -C "$$base" serve-stop NAME=base; test -f "$$out/summary.json" || exit $$rc; }

plan-base: ## PR cost diff: the base checkout's offline plan into build/plan-base/ (STACK=dev)
	@test -f "$(BASE_DIR)/Makefile" || { echo "ERROR: BASE_DIR=$(BASE_DIR) is not a checkout of this project (no Makefile)" >&2; exit 2; }
	@env -u VENVS $(MAKE) -C "$(BASE_DIR)" plan STACK=$(STACK)
	@mkdir -p build/plan-base && cp "$(BASE_DIR)/build/plan/$(STACK).json" build/plan-base/

smoke: ## Smoke eval against a deployed endpoint (ENDPOINT= required) into build/smoke
	@test -n "$(ENDPOINT)" || { echo "ERROR: ENDPOINT= is required (the deployed OpenAI-compatible URL ending in /v1)" >&2; exit 2; }
	@$(MAKE) eval ENDPOINT="$(ENDPOINT)" OUT=build/smoke

report: ## Join plan/eval/load/cost/canary evidence into build/report/pr-comment.md and index.html
	@$(call venv,ops)
	@$(call py,ops) -m release.report

release-publish: ## Attach build/canary + build/report evidence to the GitHub Release TAG (needs gh)
	@test -n "$(TAG)" || { echo "ERROR: TAG= is required (e.g. v1.2.3)" >&2; exit 2; }
	@$(call venv,ops)
	@$(call py,ops) -m release.publish --tag "$(TAG)"

bench-demo: ## Print each demo stage's time from the last `make demo` (build/demo/stages.json)
	@$(call venv,ops)
	@$(call py,ops) bench/demo_benchmark.py

test-release: ## Release tests: state machine, gate, report, workflows, and a real local canary (e2e)
	@$(call venv,ops)
	@$(call py,ops) -m pytest -p no:cacheprovider tests/release tests/workflows
