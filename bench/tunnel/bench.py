#!/usr/bin/env python3
"""Side-by-side benchmark of the reverse forward: OpenSSH's `ssh -N -R` versus oob-agent's Tunnel (libssh2).

One run starts ONE throwaway sshd on 127.0.0.1 (temp host key, config, authorized_keys; never /etc/ssh) and
local services on 127.0.0.1 (sink, source, echo). For each forwarder, alternately, a fresh forwarder process is
started per run, and measured through its remote ports:

  up        client -> forwarded port -> SSH -> local sink       256 MiB, MiB/s
  down      local source -> SSH -> forwarded port -> client     256 MiB, MiB/s
  conc      8 concurrent streams x 32 MiB each way, aggregate MiB/s
  rtt       1000 ping-pongs of 64 bytes on one connection: p50 / p99 (ms)
  connect   40 new connections: connect() to the first echoed byte, p50 (ms) and how many took > 30 ms
  cpu       CPU seconds (user+sys) of the forwarder process per GiB relayed during the throughput phases

Usage: bench.py [--runs 3] [--mib 256] [--tunnel-bench PATH] [--out RESULTS.md] [--perf]
Everything stays on loopback; every loop is bounded; all processes started here are stopped by PID.
"""
import argparse, os, platform, signal, socket, statistics, subprocess, sys, tempfile, threading, time

MIB = 1 << 20
CHUNK = 1 << 20
PAYLOAD = os.urandom(CHUNK)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def can_connect(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


# ---------------------------------------------------------------- local services (behind the forwarder)

class Server:
    def __init__(self, handler):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(256)
        self.port = self.sock.getsockname()[1]
        self.handler = handler
        threading.Thread(target=self.loop, daemon=True).start()

    def loop(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    def serve(self, c):
        try:
            self.handler(c)
        except OSError:
            pass
        finally:
            c.close()

    def close(self):
        self.sock.close()


class EchoLoop:
    """Echo on one thread with selectors (no thread spawned per connection: a low connect-latency floor)."""

    def __init__(self):
        import selectors
        self.sel = selectors.DefaultSelector()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(256)
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        self.sel.register(self.sock, 1)
        self.closed = False
        threading.Thread(target=self.loop, daemon=True).start()

    def loop(self):
        while not self.closed:
            for key, _ in self.sel.select(0.5):
                s = key.fileobj
                if s is self.sock:
                    try:
                        c, _ = self.sock.accept()
                    except OSError:
                        continue
                    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    c.setblocking(True)
                    self.sel.register(c, 1)
                    continue
                try:
                    d = s.recv(65536)
                except OSError:
                    d = b""
                if not d:
                    self.sel.unregister(s)
                    s.close()
                    continue
                try:
                    s.sendall(d)
                except OSError:
                    self.sel.unregister(s)
                    s.close()

    def close(self):
        self.closed = True
        self.sock.close()


def sink(c):
    buf = bytearray(CHUNK)
    total = 0
    while True:
        n = c.recv_into(buf)
        if n == 0:
            break
        total += n
    c.sendall(total.to_bytes(8, "big"))


def source(c):
    want = int.from_bytes(recv_exact(c, 8), "big")
    sent = 0
    view = memoryview(PAYLOAD)
    while sent < want:
        n = min(CHUNK, want - sent)
        c.sendall(view[:n])
        sent += n
    c.shutdown(socket.SHUT_WR)
    c.recv(1)


def echo(c):
    while True:
        d = c.recv(65536)
        if not d:
            break
        c.sendall(d)


def recv_exact(c, n):
    out = bytearray()
    while len(out) < n:
        d = c.recv(n - len(out))
        if not d:
            raise OSError("short read")
        out += d
    return bytes(out)


# ---------------------------------------------------------------- client measurements

def connect(port):
    c = socket.create_connection(("127.0.0.1", port), timeout=60)
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return c


def push(port, nbytes):
    """Sends nbytes to the sink; returns seconds until the sink confirmed the count."""
    c = connect(port)
    t0 = time.perf_counter()
    view = memoryview(PAYLOAD)
    sent = 0
    while sent < nbytes:
        n = min(CHUNK, nbytes - sent)
        c.sendall(view[:n])
        sent += n
    c.shutdown(socket.SHUT_WR)
    got = int.from_bytes(recv_exact(c, 8), "big")
    dt = time.perf_counter() - t0
    c.close()
    assert got == nbytes, f"sink got {got} of {nbytes}"
    return dt


def pull(port, nbytes):
    """Receives nbytes from the source; returns seconds."""
    c = connect(port)
    t0 = time.perf_counter()
    c.sendall(nbytes.to_bytes(8, "big"))
    buf = bytearray(CHUNK)
    got = 0
    while True:
        n = c.recv_into(buf)
        if n == 0:
            break
        got += n
    dt = time.perf_counter() - t0
    c.close()
    assert got == nbytes, f"received {got} of {nbytes}"
    return dt


def concurrent(fn, port, streams, nbytes):
    """Runs fn on `streams` threads; returns aggregate MiB/s over the wall time."""
    errors = []

    def run():
        try:
            fn(port, nbytes)
        except Exception as e:  # noqa: BLE001
            errors.append(e)
    ts = [threading.Thread(target=run) for _ in range(streams)]
    t0 = time.perf_counter()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    dt = time.perf_counter() - t0
    if errors:
        raise errors[0]
    return streams * nbytes / MIB / dt


def rtt(port, count=1000, size=64):
    c = connect(port)
    msg = b"x" * size
    for _ in range(20):  # warm-up
        c.sendall(msg)
        recv_exact(c, size)
    samples = []
    for _ in range(count):
        t0 = time.perf_counter()
        c.sendall(msg)
        recv_exact(c, size)
        samples.append(time.perf_counter() - t0)
    c.close()
    samples.sort()
    return samples[len(samples) // 2] * 1e3, samples[int(len(samples) * 0.99) - 1] * 1e3


def connect_latency(port, count=40):
    samples = []
    for _ in range(count):
        t0 = time.perf_counter()
        c = socket.create_connection(("127.0.0.1", port), timeout=10)
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c.sendall(b"!")
        recv_exact(c, 1)
        samples.append(time.perf_counter() - t0)
        c.close()
        time.sleep(0.01)
    samples.sort()
    return samples[len(samples) // 2] * 1e3, sum(1 for s in samples if s > 0.030)


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------- jump host and forwarders

class JumpHost:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="oob-bench-sshd-")
        os.makedirs("/run/sshd", exist_ok=True)
        self.port = free_port()
        d = self.dir
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", f"{d}/host_ed25519"], check=True)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", f"{d}/id_ed25519"], check=True)
        os.link(f"{d}/id_ed25519.pub", f"{d}/authorized_keys")
        host_pub = " ".join(open(f"{d}/host_ed25519.pub").read().split()[:2])
        with open(f"{d}/known_hosts", "w") as f:
            f.write(f"[127.0.0.1]:{self.port} {host_pub}\n")
        self.user = os.environ.get("USER") or "root"
        with open(f"{d}/sshd_config", "w") as f:
            f.write("\n".join([
                f"ListenAddress 127.0.0.1:{self.port}", f"HostKey {d}/host_ed25519", f"PidFile {d}/sshd.pid",
                f"AuthorizedKeysFile {d}/authorized_keys", "UsePAM no", "StrictModes no",
                "PasswordAuthentication no", "KbdInteractiveAuthentication no", "PermitRootLogin prohibit-password",
                "AllowTcpForwarding yes", "GatewayPorts no", "ClientAliveInterval 15", "ClientAliveCountMax 3",
                "MaxStartups 100", "MaxSessions 100", "LogLevel ERROR", ""]))
        self.log = open(f"{d}/sshd.log", "w")
        self.proc = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", f"{d}/sshd_config"],
                                     stdout=self.log, stderr=self.log, stdin=subprocess.DEVNULL)
        deadline = time.time() + 10
        while not can_connect(self.port):
            if time.time() > deadline or self.proc.poll() is not None:
                raise RuntimeError("sshd did not start: " + open(f"{d}/sshd.log").read())
            time.sleep(0.02)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        subprocess.run(["rm", "-rf", self.dir])


def ssh_command(jh, forwards, extra=()):
    cmd = ["ssh", "-N", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
           "-o", f"UserKnownHostsFile={jh.dir}/known_hosts", "-o", "ExitOnForwardFailure=yes",
           "-o", "ServerAliveInterval=0", "-i", f"{jh.dir}/id_ed25519", "-p", str(jh.port), *extra]
    for f in forwards:
        cmd += ["-R", f]
    return cmd + [f"{jh.user}@127.0.0.1"]


def tunnel_command(binary, jh, forwards):
    cmd = [binary, "--host", "127.0.0.1", "--port", str(jh.port), "--user", jh.user,
           "--identity", f"{jh.dir}/id_ed25519", "--known-hosts", f"{jh.dir}/known_hosts"]
    for f in forwards:
        cmd += ["--forward", f]
    return cmd


def start_forwarder(kind, binary, jh, services):
    if kind == "direct":  # no forwarder: the harness's own floor (a placeholder process for the CPU figure)
        proc = subprocess.Popen(["sleep", "3600"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
        return proc, {n: s.port for n, s in services.items()}, "(none: straight to the local services)"
    ports = {name: free_port() for name in services}
    forwards = [f"127.0.0.1:{ports[n]}:127.0.0.1:{services[n].port}" for n in services]
    if kind == "tunnel":
        cmd = tunnel_command(binary, jh, forwards)
    elif kind == "ssh":
        cmd = ssh_command(jh, forwards)
    else:  # OpenSSH forced onto libssh2 1.10's algorithms
        cmd = ssh_command(jh, forwards, ["-c", "aes128-ctr", "-m", "hmac-sha2-256"])
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=sys.stderr, stdin=subprocess.DEVNULL, text=True)
    deadline = time.time() + 30
    if kind == "tunnel":
        line = proc.stdout.readline()
        if "FORWARDING" not in line:
            raise RuntimeError(f"tunnel-bench did not come up: {line!r}")
    while not all(can_connect(p) for p in ports.values()):
        if time.time() > deadline or proc.poll() is not None:
            raise RuntimeError(f"{kind} did not forward")
        time.sleep(0.05)
    return proc, ports, " ".join(cmd)


def stop_forwarder(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def measure(kind, binary, jh, services, mib, perf=False, latency_only=False, connects=40):
    proc, ports, cmd = start_forwarder(kind, binary, jh, services)
    try:
        r = {}
        n = mib * MIB
        if latency_only:
            r["rtt_p50"], r["rtt_p99"] = rtt(ports["echo"])
            r["connect_p50"], r["connect_slow"] = connect_latency(ports["echo"], connects)
            return r, cmd
        c0 = cpu_seconds(proc.pid)
        perf_proc = None
        if perf:
            perf_proc = subprocess.Popen(["perf", "record", "-F", "999", "-g", "-o", f"/tmp/oob-bench-{kind}.perf.data",
                                          "-p", str(proc.pid)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.5)
        r["up"] = mib / push(ports["sink"], n)
        r["down"] = mib / pull(ports["source"], n)
        if perf_proc:
            perf_proc.send_signal(signal.SIGINT)
            perf_proc.wait(30)
        r["conc_up"] = concurrent(push, ports["sink"], 8, n // 8)
        r["conc_down"] = concurrent(pull, ports["source"], 8, n // 8)
        c1 = cpu_seconds(proc.pid)
        r["cpu_per_gib"] = (c1 - c0) / (4 * n / (1 << 30))
        r["rtt_p50"], r["rtt_p99"] = rtt(ports["echo"])
        r["connect_p50"], r["connect_slow"] = connect_latency(ports["echo"], connects)
        return r, cmd
    finally:
        stop_forwarder(proc)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--mib", type=int, default=256)
    ap.add_argument("--tunnel-bench", default=os.path.join(os.path.dirname(__file__), "../../.build/tunnel-bench"))
    ap.add_argument("--out", default=None)
    ap.add_argument("--kinds", default="ssh,ssh-aes,tunnel")
    ap.add_argument("--perf", action="store_true", help="perf-record the first run's up/down phases")
    ap.add_argument("--latency-only", action="store_true", help="only the RTT and connect-latency phases")
    ap.add_argument("--connects", type=int, default=40, help="new connections in the connect-latency phase")
    a = ap.parse_args()
    kinds = a.kinds.split(",")
    jh = JumpHost()
    services = {"sink": Server(sink), "source": Server(source), "echo": EchoLoop()}
    results = {k: [] for k in kinds}
    cmds = {}
    try:
        for run in range(a.runs):
            for k in kinds:
                r, cmds[k] = measure(k, a.tunnel_bench, jh, services, a.mib, perf=a.perf and run == 0,
                                     latency_only=a.latency_only, connects=a.connects)
                results[k].append(r)
                print(f"run {run + 1} {k}: " + ", ".join(f"{m}={v:.3f}" for m, v in r.items()), flush=True)
    finally:
        for s in services.values():
            s.close()
        jh.stop()
    report(results, cmds, a)


NAMES = {"direct": "no forwarder (harness floor)",
         "ssh": "OpenSSH `ssh -N -R` (defaults: chacha20-poly1305)",
         "ssh-aes": "OpenSSH `ssh -N -R -c aes128-ctr -m hmac-sha2-256` (libssh2's algorithms)",
         "tunnel": "oob-agent Tunnel (libssh2 1.10: aes128-ctr + hmac-sha2-256)"}


def report(results, cmds, a):
    med = {k: {m: statistics.median(r[m] for r in rs) for m in rs[0]} for k, rs in results.items()}
    lines = []
    lines.append(f"Medians of {a.runs} runs, {a.mib} MiB per direction (conc: 8 streams x {a.mib // 8} MiB), "
                 f"fresh forwarder per run, one sshd for all.\n")
    if a.latency_only:
        return report_latency(med, results, cmds, a)
    lines.append("| forwarder | up MiB/s | down MiB/s | conc up | conc down | RTT p50 / p99 ms | connect p50 ms (>30 ms of 40) | CPU s/GiB |")
    lines.append("| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: |")
    for k, m in med.items():
        lines.append(f"| {NAMES.get(k, k)} | {m['up']:.0f} | {m['down']:.0f} | {m['conc_up']:.0f} | {m['conc_down']:.0f} | "
                     f"{m['rtt_p50']:.3f} / {m['rtt_p99']:.3f} | {m['connect_p50']:.2f} ({m['connect_slow']:.0f}) | "
                     f"{m['cpu_per_gib']:.2f} |")
    if "tunnel" in med:
        for peer in [k for k in med if k != "tunnel"]:
            t, p = med["tunnel"], med[peer]
            lines.append("")
            lines.append(f"Ratio tunnel / {peer}: up {t['up'] / p['up']:.2f}, down {t['down'] / p['down']:.2f}, "
                         f"conc up {t['conc_up'] / p['conc_up']:.2f}, conc down {t['conc_down'] / p['conc_down']:.2f}, "
                         f"RTT p50 {t['rtt_p50'] / p['rtt_p50']:.2f}, p99 {t['rtt_p99'] / p['rtt_p99']:.2f}, "
                         f"connect p50 {t['connect_p50'] / p['connect_p50']:.3f}, "
                         f"CPU per GiB {t['cpu_per_gib'] / p['cpu_per_gib']:.2f}")
    lines.append("")
    lines.append("Per-run figures:")
    lines.append("")
    for k, rs in results.items():
        for i, r in enumerate(rs):
            lines.append(f"- {k} run {i + 1}: " + ", ".join(f"{m} {v:.3f}" for m, v in r.items()))
    lines.append("")
    lines.append("Forwarder commands (ports differ per run):")
    lines.append("")
    for k, c in cmds.items():
        lines.append(f"- {k}: `{c}`")
    text = "\n".join(lines) + "\n"
    print(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)


def report_latency(med, results, cmds, a):
    lines = [f"Latency only: medians of {a.runs} runs; RTT over 1000 x 64-byte ping-pongs, connect over {a.connects} "
             "new connections (connect() to first echoed byte).\n",
             f"| forwarder | RTT p50 ms | RTT p99 ms | connect p50 ms | connects > 30 ms (of {a.connects}) |",
             "| --- | ---: | ---: | ---: | ---: |"]
    for k, m in med.items():
        lines.append(f"| {NAMES.get(k, k)} | {m['rtt_p50']:.3f} | {m['rtt_p99']:.3f} | {m['connect_p50']:.2f} | "
                     f"{m['connect_slow']:.0f} |")
    lines.append("")
    for k, rs in results.items():
        for i, r in enumerate(rs):
            lines.append(f"- {k} run {i + 1}: " + ", ".join(f"{m} {v:.3f}" for m, v in r.items()))
    text = "\n".join(lines) + "\n"
    print(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
