#!/usr/bin/env python3
"""Code footprint of a callgrind run: the 64-byte lines of code a run
executes at least THRESHOLD times (default 15,000: half a connect of the
burst's 30,500), per function, and the difference between two runs.

    RACE_MEMORY_BURST_ONLY=N valgrind --tool=callgrind --dump-instr=yes \
        --callgrind-out-file=runN.out <race_memory binary> --burst-only --bench
    python3 benches/callgrind_lines.py run4.out run5.out [ROWS] [THRESHOLD]

Both runs must come from the same binary (the addresses are compared by
line). See BENCHMARKS.md, issue 32's seventh round.
"""
import collections
import re
import sys

NAMED = ("ob=", "fn=", "cob=", "cfn=", "cfi=", "cfl=", "fl=", "fi=", "fe=")


def hot_lines(path, threshold):
    """{function: number of hot code lines} of one callgrind output."""
    names = {}
    fn = None
    addr = 0
    skip = False
    counts = collections.defaultdict(collections.Counter)
    for line in open(path):
        if line.startswith(NAMED):
            key, value = line.rstrip("\n").split("=", 1)
            m = re.match(r"\((\d+)\)(?: (.*))?", value)
            if key in ("fn", "cfn") and m:
                if m.group(2):
                    names[m.group(1)] = m.group(2)
                if key == "fn":
                    fn = names[m.group(1)]
            continue
        if line.startswith("calls="):
            skip = True  # the next cost line is the call's, not its own
            continue
        if not line or line[0] not in "+-0123456789*":
            continue
        fields = line.split()
        pos = fields[0]
        if pos.startswith("0x"):
            addr = int(pos, 16)
        elif pos.startswith("+"):
            addr += int(pos[1:])
        elif pos.startswith("-"):
            addr -= int(pos[1:])
        if skip:
            skip = False
            continue
        if fn is not None and len(fields) >= 3:
            counts[fn][addr] += int(fields[2])
    result = {}
    for name, by_addr in counts.items():
        per_line = collections.Counter()
        for a, n in by_addr.items():
            per_line[a >> 6] = max(per_line[a >> 6], n)
        result[name] = sum(1 for n in per_line.values() if n >= threshold)
    return result


def main():
    before, after = sys.argv[1], sys.argv[2]
    rows = int(sys.argv[3]) if len(sys.argv) > 3 else 30
    threshold = int(sys.argv[4]) if len(sys.argv) > 4 else 15000
    a, b = hot_lines(before, threshold), hot_lines(after, threshold)
    diff = {k: b.get(k, 0) - a.get(k, 0) for k in set(a) | set(b)}
    print(f"hot code lines: {sum(a.values())} -> {sum(b.values())} "
          f"({sum(diff.values()):+d})")
    for name, d in sorted(diff.items(), key=lambda kv: -abs(kv[1]))[:rows]:
        if d:
            print(f"{d:+5d} {b.get(name, 0):5d}  {name[:110]}")


if __name__ == "__main__":
    main()
