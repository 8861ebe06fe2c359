#!/usr/bin/env bash
# The test command of README.md's quick start (and of .ci/run): installs what is missing, builds with every
# warning as an error, runs every test (pty, sshd on loopback, network namespaces: as root they all run),
# then the Debian package test (build, install, check, purge) and a short bounded fuzzing run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
export OOB_STRICT=1
swift build --build-tests
# A hung test must fail the run, not run into CI's own limit: the whole suite takes a few minutes.
timeout --kill-after=30s 40m swift test --skip-build --no-parallel 2>&1 | tee /tmp/oob-agent-test.log
# The Debian package: built, installed here, checked (`oob-agent check` from the package), purged.
bash packaging/test-deb.sh 2>&1 | tee /tmp/oob-agent-deb-test.log
if [ -x fuzz/run.sh ]; then
    FUZZ_SECONDS="${FUZZ_SECONDS:-60}" bash fuzz/run.sh
fi
# One closing line for the whole run (every step above stops the script on a failure).
passed=$(grep -cE '^✔ Test .* passed after' /tmp/oob-agent-test.log || true)
skipped=$(grep -cE '^➜ Test .* skipped' /tmp/oob-agent-test.log || true)
deb=$(grep -oE '^[0-9]+ passed, 0 failed' /tmp/oob-agent-deb-test.log | grep -oE '^[0-9]+' | tail -1)
# Skipped: only the benchmarks, which run with OOB_BENCH=1 (bench/agent/run.sh), never in CI.
echo "summary: $(( ${passed:-0} + ${deb:-0} )) passed, 0 failed, ${skipped:-0} skipped"
