#!/usr/bin/env bash
# The deploy/ manifests against the Kubernetes and custom-resource schemas (tools/validate_manifests.py)
# and yamllint; then every file under tests/deploy/bad must be rejected (so the check can fail).
# Creates (once) a virtualenv at build/deploy-venv with pinned PyPI packages. Used by ctest.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/build/deploy-venv"
pins="kubernetes-validate==1.37.0 jsonschema==4.25.1 referencing==0.36.2 PyYAML==6.0.2 yamllint==1.37.1"
if [[ ! -f "$venv/.pins" || "$(cat "$venv/.pins")" != "$pins" ]]; then
  python3 -m venv "$venv"
  # shellcheck disable=SC2086
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check $pins
  echo "$pins" >"$venv/.pins"
fi
py="$venv/bin/python"
cd "$root"
"$py" -m yamllint -d '{extends: default, rules: {line-length: {max: 120}, document-start: {present: true}}}' deploy/k8s
"$py" tools/validate_manifests.py deploy/k8s/*.yaml
for bad in tests/deploy/bad/*.yaml; do
  if "$py" -m yamllint -d '{extends: relaxed, rules: {key-duplicates: enable}}' "$bad" >/dev/null 2>&1 &&
     "$py" tools/validate_manifests.py "$bad" >/dev/null 2>&1; then
    echo "validate_manifests.sh: $bad was accepted but must be rejected" >&2
    exit 1
  fi
  echo "rejected $bad"
done
