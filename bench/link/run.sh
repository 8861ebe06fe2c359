#!/usr/bin/env bash
# Bytes on the cellular interface (bench/link/RESULTS.md): idle with no session, one session up and down,
# and an idle open session (SSH keepalives), measured with the interface's own counters in network
# namespaces this script creates (random suffix) and deletes. Every address lives inside those namespaces.
#   IDLE_SECONDS   no-session window (default 120)      KEEPALIVE_SECONDS   open-session window (default 180)
#   KEEPALIVE      ClientAliveInterval/ServerAliveInterval in seconds (default 30, = tunnel.keepalive)
# Needs root, iproute2, dnsmasq, openssh-server/-client, udhcpc, and a built probe (swift build).
set -euo pipefail
cd "$(dirname "$0")/../.."
IDLE_SECONDS=${IDLE_SECONDS:-120}
KEEPALIVE_SECONDS=${KEEPALIVE_SECONDS:-180}
KEEPALIVE=${KEEPALIVE:-30}
PROBE=${PROBE:-$(swift build --show-bin-path)/cellular-link-probe}
[ -x "$PROBE" ] || { echo "build first: swift build --product cellular-link-probe" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "needs root (network namespaces)" >&2; exit 2; }

ID=$(printf '%06x' $((RANDOM * 32768 + RANDOM)))
SITE=oobbsite-$ID CARR=oobbcarr-$ID MAIN=oobbmain-$ID
CELL=c$ID JUMP=198.19.0.1
DIR=$(mktemp -d /tmp/oob-link-bench-XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    sleep 0.3
    for ns in "$SITE" "$CARR" "$MAIN"; do ip netns del "$ns" 2>/dev/null || true; done
    rm -rf "$DIR"
}
trap cleanup EXIT

for ns in "$SITE" "$CARR" "$MAIN"; do
    ip netns add "$ns"
    ip netns exec "$ns" sh -c 'echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6; echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6'
    ip -n "$ns" link set lo up
done
ip -n "$SITE" link add m$ID type veth peer name mp$ID netns "$MAIN"
ip -n "$SITE" addr add 198.18.1.2/24 dev m$ID; ip -n "$SITE" link set m$ID up
ip -n "$MAIN" addr add 198.18.1.1/24 dev mp$ID; ip -n "$MAIN" link set mp$ID up
ip -n "$SITE" route add default via 198.18.1.1
ip -n "$SITE" link add $CELL type veth peer name cp$ID netns "$CARR"
ip netns exec "$SITE" sh -c "echo 0 > /proc/sys/net/ipv6/conf/$CELL/disable_ipv6"
ip -n "$CARR" addr add 198.18.2.1/24 dev cp$ID; ip -n "$CARR" link set cp$ID up
ip -n "$CARR" addr add $JUMP/32 dev lo

ip netns exec "$CARR" dnsmasq --keep-in-foreground --no-resolv --no-hosts --bind-interfaces --interface=cp$ID \
    --except-interface=lo --dhcp-range=198.18.2.50,198.18.2.60,255.255.255.0,1h --dhcp-option=3,198.18.2.1 \
    --dhcp-option=6,198.18.2.1 --address=/jump.oob.test/$JUMP --dhcp-leasefile=$DIR/leases --pid-file= \
    --user=root --log-facility=$DIR/dnsmasq.log </dev/null >/dev/null 2>&1 &
PIDS+=($!)

# The jump host: Debian's sshd with a temporary config (never /etc/ssh), keepalive probes like the tunnel's.
mkdir -p /run/sshd
ssh-keygen -q -t ed25519 -N '' -f $DIR/host_key
ssh-keygen -q -t ed25519 -N '' -f $DIR/id_ed25519
cp $DIR/id_ed25519.pub $DIR/authorized_keys
echo "$JUMP $(cat $DIR/host_key.pub)" > $DIR/known_hosts
cat > $DIR/sshd_config <<CFG
ListenAddress $JUMP:22
HostKey $DIR/host_key
AuthorizedKeysFile $DIR/authorized_keys
PidFile $DIR/sshd.pid
UsePAM no
StrictModes no
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
ClientAliveInterval $KEEPALIVE
ClientAliveCountMax 3
AllowTcpForwarding remote
GatewayPorts no
LogLevel ERROR
CFG
ip netns exec "$CARR" /usr/sbin/sshd -D -e -f $DIR/sshd_config </dev/null >$DIR/sshd.log 2>&1 &
PIDS+=($!)
sleep 0.5

cat > $DIR/probe.json <<CFG
{"mode":"interface","interface":"$CELL","upTimeoutSeconds":30,"stateDirectory":"$DIR/state"}
CFG
mkfifo $DIR/in
ip netns exec "$SITE" "$PROBE" $DIR/probe.json <$DIR/in >$DIR/out 2>$DIR/probe.log &
PIDS+=($!)
exec 9>$DIR/in
answer() { # the next JSON line of the probe
    local n; n=$(($(wc -l <$DIR/out) + 1))
    echo "$1" >&9
    for _ in $(seq 600); do [ "$(wc -l <$DIR/out)" -ge $n ] && break; sleep 0.1; done
    sed -n "${n}p" $DIR/out
}
for _ in $(seq 100); do [ -s $DIR/out ] && break; sleep 0.1; done

bytes() { ip -n "$SITE" -j -s link show dev $CELL | python3 -c 'import json,sys; s=json.load(sys.stdin)[0]["stats64"]; print(s["rx"]["bytes"], s["tx"]["bytes"], s["rx"]["packets"], s["tx"]["packets"])'; }
delta() { read -r a b c d <<<"$1"; read -r e f g h <<<"$2"; echo "rx=$((e-a)) tx=$((f-b)) total=$((e-a+f-b)) bytes, packets rx=$((g-c)) tx=$((h-d))"; }
SSH=(ip netns exec "$SITE" ssh -F /dev/null -i $DIR/id_ed25519 -o UserKnownHostsFile=$DIR/known_hosts
     -o StrictHostKeyChecking=yes -o BatchMode=yes -o LogLevel=ERROR)

echo "machine: $(uname -srm), $(nproc) cores; date: $(date -u +%FT%TZ)"
echo "== 1. no session for ${IDLE_SECONDS}s (agent running, stick present, link down)"
b0=$(bytes); sleep "$IDLE_SECONDS"; b1=$(bytes)
echo "   $(delta "$b0" "$b1")"

echo "== 2. one session up and down (DHCP, DNS via the link, path probe, SSH login + remote forward, teardown)"
b0=$(bytes)
up=$(answer up); echo "   up: $up"
LOCAL=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["info"]["localAddress"])' "$up")
b_dhcp=$(bytes)
echo "   resolve: $(answer 'resolve jump.oob.test')"
b_dns=$(bytes)
echo "   verify: $(answer "verify $JUMP 22")"
b_verify=$(bytes)
"${SSH[@]}" -b $LOCAL -o BindInterface=$CELL -o ExitOnForwardFailure=yes -R 31337:127.0.0.1:22 root@$JUMP true
b_ssh=$(bytes)
echo "   down: $(answer down)"
b1=$(bytes)
echo "   link up (DHCP):        $(delta "$b0" "$b_dhcp")"
echo "   DNS A query:           $(delta "$b_dhcp" "$b_dns")"
echo "   path probe (TCP):      $(delta "$b_dns" "$b_verify")"
echo "   SSH session (-R, exit): $(delta "$b_verify" "$b_ssh")"
echo "   whole session:         $(delta "$b0" "$b1")"

echo "== 3. open idle session for ${KEEPALIVE_SECONDS}s, keepalive ${KEEPALIVE}s"
answer up >/dev/null
for mode in server both; do
    extra=()
    [ $mode = both ] && extra=(-o ServerAliveInterval=$KEEPALIVE -o ServerAliveCountMax=3)
    "${SSH[@]}" -b $LOCAL -o BindInterface=$CELL -N -R 31337:127.0.0.1:22 "${extra[@]}" root@$JUMP &
    sshpid=$!
    sleep 3
    b0=$(bytes); sleep "$KEEPALIVE_SECONDS"; b1=$(bytes)
    kill $sshpid; wait $sshpid 2>/dev/null || true
    d=$(delta "$b0" "$b1")
    total=$(sed -E 's/.*total=([0-9]+).*/\1/' <<<"$d")
    echo "   probes from: $mode: $d -> per hour: $((total * 3600 / KEEPALIVE_SECONDS)) bytes"
done
answer down >/dev/null
echo "   after teardown: $(ip -n "$SITE" rule | wc -l) rules (3 = only the defaults)"
answer quit >/dev/null || true
