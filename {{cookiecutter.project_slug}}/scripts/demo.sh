#!/usr/bin/env bash
# Run the local loop stage by stage: scripts/demo.sh STAGE... (each stage is `make STAGE`).
# Prints progress, stops at the first failing stage, and records each stage's time in
# build/demo/stages.json. A stage is reported done only when its make target succeeded.
set -uo pipefail
elapsed() { local ms=$(( ($(date +%s%N) - $1) / 1000000 )); printf "%d.%03d" $((ms / 1000)) $((ms % 1000)); }
mkdir -p build/demo
results=build/demo/stages.json.tmp
echo "[" > "$results"
status=0
first=1
total_start=$(date +%s%N)
if [ "$#" -eq 0 ]; then
  echo "ERROR: no demo stages are defined (DEMO_STAGES is empty)" >&2
  exit 2
fi
i=0
for stage in "$@"; do
  i=$((i + 1))
  echo "==> [$i/$#] $stage"
  start=$(date +%s%N)
  if make --no-print-directory "$stage"; then outcome=passed; else outcome=failed; status=1; fi
  seconds=$(elapsed "$start")
  [ $first -eq 1 ] || echo "," >> "$results"
  first=0
  printf '  {"stage": "%s", "outcome": "%s", "seconds": %.1f}' "$stage" "$outcome" "$seconds" >> "$results"
  printf '==> [%d/%d] %s %s in %.1f s\n' "$i" "$#" "$stage" "$outcome" "$seconds"
  [ $status -eq 0 ] || break
done
# A failed stage after `serve` must not leave local servers running.
if [ $status -ne 0 ]; then
  for state in build/serving/*.json; do
    [ -f "$state" ] && make --no-print-directory serve-stop NAME="$(basename "$state" .json)" || true
  done
fi
echo "" >> "$results"
echo "]" >> "$results"
mv "$results" build/demo/stages.json
printf '==> demo %s in %.1f s; stage times in build/demo/stages.json\n' \
  "$([ $status -eq 0 ] && echo passed || echo FAILED)" "$(elapsed "$total_start")"
exit $status
