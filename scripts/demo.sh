#!/usr/bin/env bash
# The demo command of README.md's quick start: installs what is missing, builds oob-agent, and runs
# `oob-agent demo` — the whole lifecycle on the embedded modem emulator, a throwaway OpenSSH jump host on
# loopback and an emulated router console. Extra arguments go to `oob-agent demo` (e.g. --interactive).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
echo "building oob-agent (the first build takes a few minutes)..."
log=$(mktemp)
if ! swift build --product oob-agent >"$log" 2>&1; then
    cat "$log" >&2
    echo "the build failed (output above)" >&2
    exit 1
fi
rm -f "$log"
exec "$(swift build --show-bin-path)/oob-agent" demo "$@"
