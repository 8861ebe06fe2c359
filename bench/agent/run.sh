#!/usr/bin/env bash
# Agent benchmarks (bench/agent/RESULTS.md): activation latency (SMS -> forward listening, 20 sessions,
# next to ssh -R spawned per session), teardown time, and the idle footprint over 10 minutes with ^RSSI noise.
# Measures the release binary with the static Swift standard library (what a Pi without a toolchain runs).
# Everything stays on 127.0.0.1: ModemEmulator on a pty, OpenSSH sshd as the jump host, an echo server as target.
set -euo pipefail
cd "$(dirname "$0")/../.."
swift build -c release --static-swift-stdlib --product oob-agent
BIN=.build/release/oob-agent
swift build --build-tests
export OOB_BENCH=1 OOB_AGENT_BIN="$PWD/$BIN"
export OOB_BENCH_OUT=/tmp/oob-agent-bench-activation.txt OOB_BENCH_IDLE_OUT=/tmp/oob-agent-bench-idle.txt
export OOB_BENCH_IDLE_SECONDS="${OOB_BENCH_IDLE_SECONDS:-600}"
swift test --skip-build --filter AgentBenchmarks
echo "binary: $BIN"
cat "$OOB_BENCH_OUT" "$OOB_BENCH_IDLE_OUT"
