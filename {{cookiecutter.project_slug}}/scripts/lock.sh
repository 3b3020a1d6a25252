#!/usr/bin/env bash
# Re-lock one environment: resolve requirements/ENV.in in a scratch venv and freeze every
# package with its exact version into requirements/ENV.txt (installed later with --no-deps).
set -euo pipefail
# An extra index that cannot be reached (e.g. the PyTorch CPU index on a mirror-only network) costs
# pip several retries per package; one retry keeps real network blips survivable.
export PIP_RETRIES=${PIP_RETRIES:-1}
env_name=${1:?usage: scripts/lock.sh ENV}
in=requirements/$env_name.in
[ -f "$in" ] || { echo "ERROR: no $in" >&2; exit 2; }
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
${PYTHON:-python3} -m venv "$scratch/venv"
"$scratch/venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$in"
if [ -f "requirements/$env_name.post" ]; then
  VENV="$scratch/venv" bash "requirements/$env_name.post"
fi
{
  echo "# Locked from requirements/$env_name.in by scripts/lock.sh (make lock ENV=$env_name)."
  grep -E '^--(extra-)?index-url' "$in" || true
  "$scratch/venv/bin/python" -m pip freeze --all --exclude-editable | grep -v -E '^(pip|setuptools|wheel)=='
} > "requirements/$env_name.txt.new"
mv "requirements/$env_name.txt.new" "requirements/$env_name.txt"
echo "locked requirements/$env_name.txt"
