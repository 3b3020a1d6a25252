#!/usr/bin/env bash
# Create or refresh one component environment from its lock file: scripts/venv.sh ENV
#
# Idempotent and lazy: does nothing while $VENVS/ENV matches requirements/ENV.txt (content hash),
# so every make target can call it. The hash is written last, so an interrupted install is
# redone on the next call instead of being trusted. VENVS may point outside the project
# (the template's tests share one set of environments between baked projects).
set -euo pipefail
# An extra index that cannot be reached (e.g. the PyTorch CPU index on a mirror-only network) costs
# pip several retries per package; one retry keeps real network blips survivable.
export PIP_RETRIES=${PIP_RETRIES:-1}
env_name=${1:?usage: scripts/venv.sh ENV}
root=${VENVS:-.venv}
lock=requirements/$env_name.txt
[ -f "$lock" ] || { echo "ERROR: no lock file $lock (environments: $(ls requirements/*.txt | xargs -n1 basename | sed 's/.txt$//' | tr '\n' ' '))" >&2; exit 2; }
python=${PYTHON:-python3}
want="$(cat "$lock" requirements/"$env_name".post 2>/dev/null | sha256sum | cut -c1-16) $("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
dir=$root/$env_name
mkdir -p "$root"
[ "$(cat "$dir/.lock-hash" 2>/dev/null)" = "$want" ] && exit 0
exec 9>"$root/.$env_name.lock"
flock 9
[ "$(cat "$dir/.lock-hash" 2>/dev/null)" = "$want" ] && exit 0
echo "==> creating environment '$env_name' in $dir from $lock"
rm -rf "$dir"
"$python" -m venv "$dir"
# pip's notes about unreachable extra indexes and local mirrors are noise here; real errors still show.
"$dir/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps -r "$lock" 2>&1 \
  | { grep -v -E 'is ignored: it is neither a file|Retrying \(Retry\(total=' || true; }
# Optional extra step (e.g. removing packages a text-only server must not import).
if [ -f "requirements/$env_name.post" ]; then
  VENV="$dir" bash "requirements/$env_name.post"
fi
echo "$want" > "$dir/.lock-hash"
