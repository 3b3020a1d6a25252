# Monitoring: drift of logged traffic against the served model on held-out training data
# monitor/README.md). The server logs each request and answer (serving/request_log.py).
ENVS += monitor
TEST_TARGETS += test-monitor

# Values reach the shell as environment variables ("$$SINCE"), never pasted into the command:
# a workflow_dispatch input cannot inject shell code.
# make monitor-reference [NAME=stable] [TRAINING_DATA=the served model's; default: DATASET]
# make monitor [LOG=build/serving/stable.log | STACK=prod] [REFERENCE=build/monitor/reference.json]
#              [SINCE=2026-12-01T00:00] [UNTIL=...] [OUT=build/monitor]
#   STACK=: the stack's BigQuery request-log export (stack output request_logs_table; needs the
#   pulumi CLI and Google credentials); empty SINCE: the last 24 h up to UNTIL (empty: now).
# make monitor-export OUT=build/monitor/window.jsonl [LOG= | STACK=prod] [SINCE=] [UNTIL=]
.PHONY: monitor monitor-reference feedback monitor-traffic test-monitor bench-monitor demo-monitor

monitor-reference: ## Record the reference: the served model on held-out training data [NAME=stable] [TRAINING_DATA=]
	@$(call venv,monitor)
	@$(call py,monitor) -m monitor.cli reference --name "$(or $(NAME),stable)" \
		--training-data "$(or $(TRAINING_DATA),$(DATASET))"

monitor: ## Drift of a window of logged traffic vs the reference; exit 1 on drift: [LOG=|STACK=] [SINCE=] [UNTIL=] [REFERENCE=]
	@$(call venv,monitor)
	@$(call py,monitor) -m monitor.cli run $(if $(LOG),--log "$$LOG") \
		$(if $(STACK),--stack "$$STACK") \
		$(if $(REFERENCE),--reference "$$REFERENCE") $(if $(SINCE),--since "$$SINCE") \
		$(if $(UNTIL),--until "$$UNTIL") $(if $(OUT),--out "$$OUT")

.PHONY: monitor-export
monitor-export: ## A window's requests as training-data candidates (JSONL) for review: OUT= [LOG=|STACK=] [SINCE=] [UNTIL=]
	@test -n "$${OUT:-}" || { echo "ERROR: usage: make monitor-export OUT=build/monitor/window.jsonl [STACK=prod|LOG=] [SINCE=] [UNTIL=]" >&2; exit 2; }
	@$(call venv,monitor)
	@$(call py,monitor) -m monitor.cli export --out "$$OUT" $(if $(LOG),--log "$$LOG") \
		$(if $(STACK),--stack "$$STACK") \
		$(if $(REFERENCE),--reference "$$REFERENCE") $(if $(SINCE),--since "$$SINCE") \
		$(if $(UNTIL),--until "$$UNTIL")

feedback: ## Attach correct labels to logged request ids: FILE=labels.jsonl ({"request_id","label"} lines)
	@test -n "$(FILE)" || { echo "ERROR: usage: make feedback FILE=labels.jsonl" >&2; exit 2; }
	@$(call venv,monitor)
	@$(call py,monitor) -m monitor.cli feedback --file "$$FILE"

# make monitor-traffic FILE=inputs.jsonl [SPLIT=validation] [NAME=stable]
monitor-traffic: ## Send the inputs of FILE (JSONL) to a local server through the served prompt [SPLIT=] [NAME=]
	@test -n "$(FILE)" || { echo "ERROR: usage: make monitor-traffic FILE=inputs.jsonl [SPLIT=validation]" >&2; exit 2; }
	@$(call venv,monitor)
	@$(call py,monitor) -m monitor.cli traffic --name "$(or $(NAME),stable)" --file "$$FILE" \
		$(if $(SPLIT),--split "$$SPLIT")

test-monitor: ## Monitoring tests: log parsing, redaction, drift signals, feedback; real vLLM logs (e2e)
	@$(call venv,monitor)
	@$(call py,monitor) -m pytest -p no:cacheprovider tests/monitor

bench-monitor: ## Calibrate the drift thresholds: statistics on in-distribution and shifted windows
	@$(call venv,monitor)
	@$(call py,monitor) bench/monitor_calibration.py

demo-monitor: ## The demo's monitoring stage: reference, a window like the training data, a shifted one
	@$(call venv,monitor)
	@$(call py,monitor) -m monitor.demo --training-data "$(DATASET)"
