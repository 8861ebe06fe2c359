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
# One closing line for the whole run, counted from the test runner's own report: Swift Testing's closing line
# ("Test run with N tests in M suites passed") gives the total, its "➜ … skipped" and "➜ … was cancelled" lines
# the tests that did not run (each with its reason). A failed run never gets here (set -e, pipefail).
total=$(grep -oE '^✔ Test run with [0-9]+ tests? ' /tmp/oob-agent-test.log | grep -oE '[0-9]+' | tail -1)
if [ -z "$total" ]; then
    echo "the test runner printed no closing line (see /tmp/oob-agent-test.log)" >&2
    exit 1
fi
grep -E '^➜ Test .*( skipped| was cancelled)' /tmp/oob-agent-test.log > /tmp/oob-agent-skips.log || true
skipped=$(wc -l < /tmp/oob-agent-skips.log)
# The benchmarks run only with OOB_BENCH=1 (bench/agent/run.sh). Anything else that did not run on CI's machine
# (root, sshd, namespaces, python3 and openssl all present) is a capability this script failed to install: fail.
unexpected=$(grep -v 'OOB_BENCH=1' /tmp/oob-agent-skips.log || true)
if [ -n "$unexpected" ] && [ "${CI:-}" = "true" ]; then
    echo "tests that did not run on the CI machine, which has everything they need:" >&2
    echo "$unexpected" >&2
    exit 1
fi
deb=$(grep -oE '^[0-9]+ passed, 0 failed' /tmp/oob-agent-deb-test.log | grep -oE '^[0-9]+' | tail -1)
echo "summary: $(( total - skipped + ${deb:-0} )) passed, 0 failed, ${skipped} skipped"
