#!/usr/bin/env bash
# Builds dist/oob-agent_<version>_<arch>.deb: a release binary with the Swift runtime linked in
# (--static-swift-stdlib, so the Pi needs no Swift toolchain), the systemd unit (installed, not started),
# the sample config as a conffile in /etc/oob-agent, the udev rules, pppd examples and a man page generated
# from the argument parser. Runtime dependencies come from dpkg-shlibdeps, plus ppp.
#
# Usage: packaging/build-deb.sh [--skip-build]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
version=$(sed -n 's/.*version: "\([0-9][^"]*\)".*/\1/p' Sources/oob-agent/OOBAgentCommand.swift | head -1)
arch=$(dpkg --print-architecture)
scratch="$root/.build-release"
if [ "${1:-}" != "--skip-build" ]; then
    swift build -c release --static-swift-stdlib --product oob-agent --scratch-path "$scratch"
fi
bin="$scratch/release/oob-agent"
[ -x "$bin" ] || { echo "no release binary at $bin; run without --skip-build" >&2; exit 1; }

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
pkg="$stage/oob-agent"
install -D -m 0755 "$bin" "$pkg/usr/bin/oob-agent"
strip --strip-unneeded "$pkg/usr/bin/oob-agent" 2>/dev/null || true
install -d -m 0755 "$pkg/etc/oob-agent"
install -m 0640 etc/oob-agent/agent.toml "$pkg/etc/oob-agent/agent.toml"
sed "s|@BINDIR@|/usr/bin|g" etc/systemd/oob-agent.service.in >"$stage/oob-agent.service"
install -D -m 0644 "$stage/oob-agent.service" "$pkg/lib/systemd/system/oob-agent.service"
for rules in etc/udev/*.rules; do
    [ -e "$rules" ] && install -D -m 0644 "$rules" "$pkg/lib/udev/rules.d/$(basename "$rules")"
done
install -d "$pkg/usr/share/doc/oob-agent/examples"
install -m 0644 README.md "$pkg/usr/share/doc/oob-agent/README.md"
# Debian policy 12.5 and 12.7: a copyright file and a changelog in every package (a native package's changelog,
# compressed). The changelog entry carries the version built.
install -m 0644 packaging/copyright "$pkg/usr/share/doc/oob-agent/copyright"
{
    printf 'oob-agent (%s) unstable; urgency=medium\n\n' "$version"
    printf '  * Release %s; the history is in the project'"'"'s git log.\n\n' "$version"
    printf ' -- oob-agent maintainers <maintainers@oob-agent.invalid>  %s\n' \
        "$(LC_ALL=C date -u -d "@${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}" '+%a, %d %b %Y %H:%M:%S +0000')"
} | gzip -9n >"$pkg/usr/share/doc/oob-agent/changelog.gz"
chmod 0644 "$pkg/usr/share/doc/oob-agent/changelog.gz"
# The sample config names the owner's phone numbers once filled in: it stays 0640 (root, group root), which lintian
# would flag as a non-standard mode; the override says why.
install -D -m 0644 packaging/lintian-overrides "$pkg/usr/share/lintian/overrides/oob-agent"
[ -f BENCHMARKS.md ] && install -m 0644 BENCHMARKS.md "$pkg/usr/share/doc/oob-agent/"
for d in etc/ppp etc/jumphost; do
    [ -d "$d" ] && cp -r "$d" "$pkg/usr/share/doc/oob-agent/examples/"
done
# The man page, generated from the argument parser's own description of every subcommand (its
# GenerateManual plugin; a debug build suffices for that and is what the tests already built).
install -d "$pkg/usr/share/man/man1"
swift package generate-manual --configuration debug >"$stage/manual.log" 2>&1 || { cat "$stage/manual.log" >&2; exit 1; }
cp .build/plugins/GenerateManual/outputs/oob-agent/oob-agent.1 "$stage/oob-agent.1"
gzip -9n -c "$stage/oob-agent.1" >"$pkg/usr/share/man/man1/oob-agent.1.gz"

install -d "$pkg/DEBIAN"
# Shared-library dependencies of the binary, as Debian names them.
mkdir -p "$stage/debian"
touch "$stage/debian/control"
shlibs=$(cd "$stage" && dpkg-shlibdeps -O "$pkg/usr/bin/oob-agent" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
# The binary is linked with packed relative relocations (RELR, Package.swift), which the loader supports from
# glibc 2.36 (version GLIBC_ABI_DT_RELR); dpkg-shlibdeps judges by symbols only and would say 2.35.
depends="${shlibs:+$shlibs, }libc6 (>= 2.36), libssh2-1, libudev1, libssl3, ca-certificates, ppp, init-system-helpers (>= 1.54~)"
installed_size=$(du -ks "$pkg" | cut -f1)
cat >"$pkg/DEBIAN/control" <<CONTROL
Package: oob-agent
Version: $version
Architecture: $arch
Maintainer: oob-agent maintainers <maintainers@oob-agent.invalid>
Installed-Size: $installed_size
Depends: $depends
Recommends: openssh-client, usb-modeswitch
Section: net
Priority: optional
Homepage: https://github.com/oob-agent/oob-agent
Description: out-of-band access to a remote site over cellular, switched on by SMS
 oob-agent keeps a USB cellular modem's data link off until its owner sends an
 authenticated SMS. It then brings the link up, opens a reverse SSH port forward
 to a jump host pinned by its key, relays the site router's serial console, and
 tears everything down when the session ends, confirming by SMS.
CONTROL
printf '/etc/oob-agent/agent.toml\n' >"$pkg/DEBIAN/conffiles"
# Maintainer scripts as debhelper's dh_installsystemd writes them: daemon-reload after install and removal,
# deb-systemd-invoke (init-system-helpers) to stop the service, deb-systemd-helper to forget it on purge.
cat >"$pkg/DEBIAN/postinst" <<'POSTINST'
#!/bin/sh
set -e
if [ "$1" = configure ]; then
    install -d -m 0700 /var/lib/oob-agent
    install -d -m 0750 /var/log/oob-agent
    if command -v udevadm >/dev/null 2>&1 && [ -d /run/udev ]; then
        udevadm control --reload-rules >/dev/null 2>&1 || true
    fi
fi
if [ -d /run/systemd/system ]; then
    systemctl --system daemon-reload >/dev/null || true
fi
# Installed, not started: the owner runs `oob-agent enroll`, `oob-agent check`, then
# `systemctl enable --now oob-agent`.
exit 0
POSTINST
cat >"$pkg/DEBIAN/prerm" <<'PRERM'
#!/bin/sh
set -e
if [ -d /run/systemd/system ] && [ "$1" = remove ]; then
    deb-systemd-invoke stop 'oob-agent.service' >/dev/null || true
fi
exit 0
PRERM
cat >"$pkg/DEBIAN/postrm" <<'POSTRM'
#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then
    systemctl --system daemon-reload >/dev/null || true
fi
if [ "$1" = purge ]; then
    if [ -x "/usr/bin/deb-systemd-helper" ]; then
        deb-systemd-helper purge 'oob-agent.service' >/dev/null || true
    fi
    rm -rf /var/lib/oob-agent /var/log/oob-agent
fi
exit 0
POSTRM
chmod 0755 "$pkg/DEBIAN/postinst" "$pkg/DEBIAN/prerm" "$pkg/DEBIAN/postrm"
mkdir -p dist
out="dist/oob-agent_${version}_${arch}.deb"
fakeroot dpkg-deb --build --root-owner-group "$pkg" "$out" >/dev/null
echo "$out"
