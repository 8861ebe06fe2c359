#!/usr/bin/env bash
# Builds the Debian package, installs it on this machine, checks what a user would check, and removes it:
#   - the package installs with its dependencies (libssh2-1, libudev1, ppp) resolved by apt;
#   - /usr/bin/oob-agent runs without a Swift toolchain's libraries (static Swift runtime);
#   - the sample configuration is a conffile in /etc/oob-agent; the unit is installed but not enabled;
#   - the man page is there;
#   - `oob-agent check` from the package validates the sample config and reports each problem with its fix
#     (the sample names devices this machine lacks), and passes the config check for a config whose
#     files exist.
# Prints "N passed, N failed" and exits non-zero on a failure. Run as root.
set -uo pipefail
cd "$(dirname "$0")/.."
pass=0; fail=0
ok() { echo "ok   - $1"; pass=$((pass + 1)); }
bad() { echo "FAIL - $1"; fail=$((fail + 1)); }
check() { if eval "$2"; then ok "$1"; else bad "$1"; fi; }

deb=$(bash packaging/build-deb.sh | tail -1) || { echo "FAIL - package build"; echo "0 passed, 1 failed"; exit 1; }
check "package built: $deb" '[ -f "$deb" ]'
check "control file depends on libssh2-1, libudev1 and ppp" \
    'dpkg-deb -f "$deb" Depends | grep -q libssh2-1 && dpkg-deb -f "$deb" Depends | grep -q libudev1 && dpkg-deb -f "$deb" Depends | grep -q ppp'
check "conffiles list /etc/oob-agent/agent.toml" 'dpkg-deb -I "$deb" conffiles | grep -qx /etc/oob-agent/agent.toml'
# Debian's own checker: no error and no warning (the overrides in packaging/lintian-overrides say why each is one).
lintian --fail-on error,warning --no-tag-display-limit "$deb" >/tmp/oob-agent-lintian.log 2>&1; lrc=$?
sed 's/^/     | /' /tmp/oob-agent-lintian.log
check "lintian: no errors, no warnings" '[ $lrc -eq 0 ]'

was_installed=$(dpkg-query -W -f='${Status}' oob-agent 2>/dev/null | grep -c "install ok installed")
export DEBIAN_FRONTEND=noninteractive
if apt-get install -y -qq "./$deb" >/tmp/oob-agent-deb-install.log 2>&1; then ok "apt installs the package"; else
    bad "apt installs the package (see /tmp/oob-agent-deb-install.log)"; cat /tmp/oob-agent-deb-install.log; fi
check "/usr/bin/oob-agent runs: --version" '/usr/bin/oob-agent --version >/dev/null'
check "no Swift runtime library needed at run time" '! ldd /usr/bin/oob-agent | grep -q "libswiftCore\|libFoundation"'
check "sample config installed in /etc/oob-agent" '[ -f /etc/oob-agent/agent.toml ]'
check "systemd unit installed" '[ -f /lib/systemd/system/oob-agent.service ] && grep -q "^Type=notify" /lib/systemd/system/oob-agent.service'
check "unit not enabled by the install" '[ ! -e /etc/systemd/system/multi-user.target.wants/oob-agent.service ]'
check "man page installed" '[ -f /usr/share/man/man1/oob-agent.1.gz ] && zcat /usr/share/man/man1/oob-agent.1.gz | grep -q "oob-agent"'

out=$(/usr/bin/oob-agent check --config /etc/oob-agent/agent.toml 2>&1); rc=$?
echo "$out" | sed 's/^/     | /'
check "check on the sample config exits 1 or 2 (problems found), not a crash" '[ $rc -eq 1 ] || [ $rc -eq 2 ]'
check "check names each problem with its fix" 'echo "$out" | grep -qi "fix"'

# A config whose files all exist: the configuration itself must be accepted (devices may still be missing).
tmp=$(mktemp -d)
ssh-keygen -q -t ed25519 -N '' -f "$tmp/id_ed25519"
printf 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP\n' >"$tmp/totp.secret"; chmod 600 "$tmp/totp.secret"
echo "[127.0.0.1]:2222 $(cut -d' ' -f1-2 "$tmp/id_ed25519.pub")" >"$tmp/known_hosts"
cat >"$tmp/agent.toml" <<TOML
[modem]
port = "/dev/ttyDOESNOTEXIST"
[auth]
senders = ["+46701234567"]
totp_secret_file = "$tmp/totp.secret"
[tunnel]
host = "127.0.0.1"
port = 2222
user = "oob"
identity = "$tmp/id_ed25519"
known_hosts = "$tmp/known_hosts"
[state]
dir = "$tmp/state"
control_socket = "$tmp/agent.sock"
TOML
out=$(/usr/bin/oob-agent check --config "$tmp/agent.toml" 2>&1); rc=$?
echo "$out" | sed 's/^/     | /'
check "check accepts a valid config and reports only the missing modem (exit 1)" \
    '[ $rc -eq 1 ] && echo "$out" | grep -q "ttyDOESNOTEXIST"'
chmod 644 "$tmp/totp.secret"
out=$(/usr/bin/oob-agent check --config "$tmp/agent.toml" 2>&1); rc=$?
check "check refuses a secret readable by others, with the chmod fix" \
    '[ $rc -ne 0 ] && echo "$out" | grep -q "chmod"'
rm -rf "$tmp"

if [ "$was_installed" = 0 ]; then
    if dpkg --purge oob-agent >/dev/null 2>&1; then ok "package purges cleanly"; else bad "package purges cleanly"; fi
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
