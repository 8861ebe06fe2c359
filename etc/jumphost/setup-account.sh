#!/bin/sh
# Run as root ON THE JUMP HOST. Creates the locked-down account `oob` that oob-agent logs into, installs
# the sshd snippet, and prints where the box's key line goes.
#
#   sh setup-account.sh 'restrict,port-forwarding,permitlisten="127.0.0.1:31337",command="/usr/sbin/nologin" ssh-ed25519 AAAA… oob-agent@site'
#
# The argument is exactly what `oob-agent jumphost-setup` prints on the box.
set -eu
line=${1:?"usage: $0 '<the line oob-agent jumphost-setup printed>'"}
case "$line" in
    restrict,*) ;;
    *) echo "refusing: the key line must start with 'restrict,' (copy it from oob-agent jumphost-setup)" >&2; exit 2 ;;
esac
id oob >/dev/null 2>&1 || useradd --system --create-home --shell /usr/sbin/nologin oob
install -d -m 0700 -o oob -g oob ~oob/.ssh
printf '%s\n' "$line" >~oob/.ssh/authorized_keys
chown oob:oob ~oob/.ssh/authorized_keys
chmod 0600 ~oob/.ssh/authorized_keys
here=$(dirname "$0")
install -m 0644 "$here/sshd_config.d-oob-agent.conf" /etc/ssh/sshd_config.d/oob-agent.conf
sshd -t
systemctl reload ssh 2>/dev/null || systemctl reload sshd 2>/dev/null || true
echo "account oob ready; on the box, pin this host: ssh-keyscan -t ed25519 -p 22 $(hostname -f) >> /etc/oob-agent/known_hosts"
