#!/usr/bin/env python3
"""Which pages of a running process's executable are resident, attributed to the ELF sections they hold.

    bench/agent/page-walk.py PID [BINARY]

Reads /proc/PID/maps (the mappings of BINARY, default the process's own /proc/PID/exe), /proc/PID/pagemap (bit 63:
page present) and the section table of the binary (`readelf -SW`), and prints KiB resident per section and in all.
Root is not needed for the present bit. This is the page walk behind the "what the RSS is made of" figures of
bench/agent/RESULTS.md."""
import os
import struct
import subprocess
import sys

PAGE = os.sysconf("SC_PAGE_SIZE")


def sections(binary):
    out = subprocess.run(["readelf", "-SW", binary], capture_output=True, text=True, check=True).stdout
    result = []
    for line in out.splitlines():
        line = line.strip()
        if not line.startswith("["):
            continue
        fields = line.split("]", 1)[1].split()
        if len(fields) < 6 or fields[0] in ("", "NULL", "Name"):
            continue
        name, _type, _addr, off, size = fields[0], fields[1], fields[2], int(fields[3], 16), int(fields[4], 16)
        if size:
            result.append((name, off, off + size))
    return result


def main():
    pid = int(sys.argv[1])
    binary = sys.argv[2] if len(sys.argv) > 2 else os.path.realpath(f"/proc/{pid}/exe")
    secs = sections(binary)
    per_section = {}
    total = 0
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/pagemap", "rb") as pagemap:
        for line in maps:
            parts = line.split()
            if len(parts) < 6 or os.path.realpath(parts[5]) != binary:
                continue
            start, end = (int(x, 16) for x in parts[0].split("-"))
            file_offset = int(parts[2], 16)
            pages = (end - start) // PAGE
            pagemap.seek(start // PAGE * 8)
            entries = pagemap.read(pages * 8)
            for i in range(pages):
                (entry,) = struct.unpack_from("<Q", entries, i * 8)
                if not entry >> 63 & 1:
                    continue
                total += PAGE
                offset = file_offset + i * PAGE
                hit = [n for n, s, e in secs if s < offset + PAGE and e > offset] or ["(between sections)"]
                for name in hit:
                    per_section[name] = per_section.get(name, 0) + PAGE // len(hit)
    for name, size in sorted(per_section.items(), key=lambda kv: -kv[1]):
        print(f"{size // 1024:8d} KiB  {name}")
    print(f"{total // 1024:8d} KiB  resident pages of {binary} in all")


if __name__ == "__main__":
    main()
