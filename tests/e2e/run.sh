#!/usr/bin/env bash
# End-to-end tests of `strata serve`: the real binary over HTTP with the official openai client.
# Creates (once) a virtualenv at build/e2e-venv with tests/e2e/requirements.txt, then runs pytest.
#   STRATA_BINARY   the strata binary (default: build/cpu/strata)
#   extra arguments are passed to pytest (e.g. -k chat, -x)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="$root/build/e2e-venv"
req="$here/requirements.txt"
stamp="$venv/.requirements.sha256"

# STRATA_E2E_PYTHON: use this interpreter as it is (its packages installed already: machines without
# network access, such as the GPU machine) instead of the virtualenv.
if [[ -n "${STRATA_E2E_PYTHON:-}" ]]; then
  export STRATA_BINARY="${STRATA_BINARY:-$root/build/cpu/strata}"
  cd "$root"
  exec "$STRATA_E2E_PYTHON" -m pytest -c "$here/pytest.ini" --rootdir "$here" "$@"
fi

want="$(sha256sum "$req" | cut -d' ' -f1)"
if [[ ! -x "$venv/bin/python" ]]; then
  mkdir -p "$root/build"
  python3 -m venv "$venv" || { echo "run.sh: python3 -m venv failed (install python3-venv)" >&2; exit 1; }
fi
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
  echo "$want" > "$stamp"
fi

export STRATA_BINARY="${STRATA_BINARY:-$root/build/cpu/strata}"
cd "$root"
set +e
"$venv/bin/python" -m pytest -c "$here/pytest.ini" --rootdir "$here" "$@"
exit $?
