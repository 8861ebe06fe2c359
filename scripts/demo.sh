#!/usr/bin/env bash
# The demo command of README.md's quick start: installs what is missing, builds oob-agent, and runs
# `oob-agent demo` — the whole lifecycle on the embedded modem emulator, a throwaway OpenSSH jump host on
# loopback and an emulated router console. Extra arguments go to `oob-agent demo` (e.g. --interactive).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
swift build --product oob-agent >/dev/null
exec "$(swift build --show-bin-path)/oob-agent" demo "$@"
