#!/usr/bin/env bash
# Installs the Debian packages oob-agent needs to build, test and run its demo. Idempotent: it asks apt only
# for what is missing, and runs `apt-get update` only when something is.
set -euo pipefail
packages=(
    pkg-config
    libssh2-1-dev     # the tunnel (CLibSSH2)
    libudev-dev       # device discovery (CUdev)
    libssl-dev        # the HTTPS webhook (COpenSSL)
    openssl           # the webhook tests' CA and server certificates
    ca-certificates   # the system trust store the HTTPS webhook verifies against
    openssh-server    # the tests' and the demo's throwaway jump host on loopback
    openssh-client    # ssh-keygen, and `ssh -R` as the benchmark's peer
    iproute2          # ip netns / veth for the link tests
    dnsmasq-base      # DHCP and DNS in the link tests' carrier namespace
    socat             # benchmark harness; echo targets in the namespace tests
    python3           # the tests' stand-in pppd (Tests/OOBTestSupport/Fixtures/fake-pppd)
    udhcpc            # the link's DHCP client for Ethernet-mode sticks (busybox udhcpc)
    procps
    lintian           # the Debian package test (packaging/test-deb.sh)
)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "missing Debian packages: ${missing[*]}; run this as root (or: sudo apt-get install ${missing[*]})" >&2
        exit 1
    fi
    echo "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
