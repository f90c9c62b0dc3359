#!/usr/bin/env bash
# Checks Istio manifests against every Istio CRD schema this tool pins:
# Istio 1.29.2's (@kubernetes-models/istio, npm, package-lock.json) and
# Istio 1.31.0's (cloudcoil-models-istio, PyPI, pypi-requirements.txt with
# its hash). Needs node/npm and python3 with pip; fetches both packages on
# first use (node_modules/, .cache/).
#
#   tools/istio-validate/run.sh envoy-config/istio/*.yaml
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache="$here/.cache"

npm ci --prefix "$here" --silent --no-audit --no-fund
# The wheel requires Python 3.14 to install; it is only read, not run.
python3 -m pip download --quiet --disable-pip-version-check --no-deps \
	--only-binary=:all: --python-version 3.14 --require-hashes \
	-r "$here/pypi-requirements.txt" -d "$cache"
version=$(sed -n 's/^cloudcoil-models-istio==\([^ ]*\) .*/\1/p' "$here/pypi-requirements.txt")
python3 "$here/cloudcoil_schema.py" "$cache/cloudcoil_models_istio-$version-py3-none-any.whl" \
	>"$cache/cloudcoil-$version.schema.json"
node "$here/validate.mjs" --schema "$cache/cloudcoil-$version.schema.json" "$@"
