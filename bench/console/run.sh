#!/usr/bin/env bash
# The console relay benchmark (RESULTS.md): builds the harness in release mode (only SerialConsole and what it
# needs), prints the machine, then runs it: keystroke echo latency through the relay against the pty alone, and
# unthrottled throughput, each over several runs with the medians at the end.
# Usage: bench/console/run.sh [--runs 5] [--keystrokes 2000] [--megabytes 32]
set -euo pipefail
cd "$(dirname "$0")/harness"
swift build -c release --product console-bench >&2
echo "machine: $(uname -srm); $(nproc) cores; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'); load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "swift: $(swift --version 2>&1 | head -1)"
exec ./.build/release/console-bench "$@"
