#!/usr/bin/env bash
# Builds the Tunnel target in release, links bench/tunnel/tunnel-bench.swift against it, and runs bench.py.
# Usage: bash bench/tunnel/run.sh [--runs 3] [--mib 256] [--out bench/tunnel/RESULTS-raw.md] [--perf]
set -euo pipefail
cd "$(dirname "$0")/../.."
swift build -c release --target Tunnel
swiftc -O -swift-version 6 bench/tunnel/tunnel-bench.swift -o .build/tunnel-bench \
    -I .build/release/Modules -Xcc -fmodule-map-file=Sources/CLibSSH2/module.modulemap \
    .build/release/Tunnel.build/*.o .build/release/Logging.build/*.o -lssh2
exec python3 bench/tunnel/bench.py --tunnel-bench .build/tunnel-bench "$@"
