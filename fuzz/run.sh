#!/usr/bin/env bash
# Builds the libFuzzer targets with `swiftc -sanitize=fuzzer,address` straight from the codec sources (they import
# nothing platform-specific), seeds them from the corpus PDUs and AT transcripts, and runs each for FUZZ_SECONDS
# (default 60). Exits non-zero when a target crashes; the crashing input is left in .build-fuzz/<target>/artifacts/.
#
#   FUZZ_SECONDS=600 fuzz/run.sh            # both targets, 10 minutes each
#   FUZZ_TARGETS=pdu FUZZ_SECONDS=30 fuzz/run.sh
#   fuzz/run.sh .build-fuzz/pdu/artifacts/crash-…   # re-run one input against the pdu target
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
out="$root/.build-fuzz"
seconds="${FUZZ_SECONDS:-60}"
jobs_flag=()
[ -n "${FUZZ_JOBS:-}" ] && jobs_flag=(-jobs="$FUZZ_JOBS" -workers="$FUZZ_JOBS")
mkdir -p "$out"

swift_flags=(-sanitize=fuzzer,address -parse-as-library -O -g -swift-version 6
    -enable-upcoming-feature ExistentialAny -enable-upcoming-feature MemberImportVisibility
    -enable-upcoming-feature InternalImportsByDefault)

# The codec sources: every SMS file except the Foundation extension.
codec_sources=()
for f in Sources/ATModem/SMS/*.swift; do
    case "$f" in *+Foundation.swift) ;; *) codec_sources+=("$f") ;; esac
done

targets="${FUZZ_TARGETS:-pdu framer}"
framer_source=Sources/ATModem/Commands/ATLineFramer.swift

build() { # name, sources...
    local name="$1"
    shift
    mkdir -p "$out/$name"
    echo "fuzz: building $name"
    # ld.gold warns about every ASan helper symbol; keep the log, show it only on failure.
    if ! swiftc "${swift_flags[@]}" -module-name "Fuzz_$name" "$@" -o "$out/$name/fuzzer" >"$out/$name/build.log" 2>&1; then
        grep -v "Cannot export local symbol" "$out/$name/build.log" >&2
        exit 2
    fi
}

seed_pdu() {
    local dir="$out/pdu/seeds"
    rm -rf "$dir" && mkdir -p "$dir"
    local n=0
    # Each corpus PDU in the hex mode (mode byte '0'), the octet mode (mode byte 0x01) and as text to round-trip.
    grep -o '"pdu": "[^"]*"' Tests/ATModemTests/Fixtures/corpus/sms-pdu.json | sed 's/"pdu": "//; s/"$//' |
        while IFS= read -r pdu; do
            n=$((n + 1))
            printf '\x00%s' "$pdu" >"$dir/hex-$n"
            if [ $((${#pdu} % 2)) -eq 0 ] && [[ "$pdu" =~ ^[0-9A-Fa-f]*$ ]]; then
                # shellcheck disable=SC2059 # the format is built from hex digits only
                { printf '\x01'; printf "$(sed 's/../\\x&/g' <<<"$pdu")"; } >"$dir/bin-$n"
            fi
        done
    printf '\x03Hello [world] {~} 5€ ^|\\' >"$dir/text-gsm"
    printf '\x03Привет 😀 мир 👍 a😀b' >"$dir/text-ucs2"
}

seed_framer() {
    local dir="$out/framer/seeds"
    rm -rf "$dir" && mkdir -p "$dir"
    local n=0
    for f in Tests/ATModemTests/Fixtures/corpus/at-transcripts/*.txt; do
        n=$((n + 1))
        # (head may close the pipe early: SIGPIPE in sed is expected, not an error)
        { printf '\x01\x05'; sed '1,/^# ---$/d' "$f" | head -c 4000 || true; } >"$dir/t-$n"
    done
}

status=0
run() { # name
    local name="$1"
    mkdir -p "$out/$name/artifacts" "$out/$name/corpus"
    echo "fuzz: running $name for ${seconds}s"
    if ! "$out/$name/fuzzer" "$out/$name/corpus" "$out/$name/seeds" -max_total_time="$seconds" \
        -artifact_prefix="$out/$name/artifacts/" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 "${jobs_flag[@]}" 2>"$out/$name/log.txt"; then
        echo "fuzz: $name FOUND A CRASH; see $out/$name/log.txt and $out/$name/artifacts/" >&2
        tail -n 40 "$out/$name/log.txt" >&2
        status=1
    fi
    grep -E "stat::number_of_executed_units|stat::peak_rss_mb|Done [0-9]+ runs" "$out/$name/log.txt" || true
}

if [ $# -gt 0 ]; then # reproduce
    build pdu "${codec_sources[@]}" fuzz/PDUFuzzer.swift
    exec "$out/pdu/fuzzer" "$@"
fi

for target in $targets; do
    case "$target" in
    pdu)
        build pdu "${codec_sources[@]}" fuzz/PDUFuzzer.swift
        seed_pdu
        run pdu
        ;;
    framer)
        if [ -f "$framer_source" ]; then
            build framer "$framer_source" fuzz/ATLineFramerFuzzer.swift
            seed_framer
            run framer
        else
            echo "fuzz: $framer_source not on this branch yet, framer target skipped"
        fi
        ;;
    esac
done
exit $status
