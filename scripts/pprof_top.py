#!/usr/bin/env python3
"""Top functions of a Go CPU profile (pprof protobuf, gzipped), without a Go toolchain.

nats-server from Debian is stripped, so `perf` sees addresses only; its own profiler names functions. Start the
benchmarks with SVYAZ_NATS_PROFILE_PORT=6061, then:

    curl -so /tmp/server.pb.gz 'http://127.0.0.1:6061/debug/pprof/profile?seconds=20'
    python3 scripts/pprof_top.py /tmp/server.pb.gz ['fn1,fn2'   # also: who calls these]
"""
import collections
import gzip
import sys


def varint(data, i):
    result = shift = 0
    while True:
        byte = data[i]
        i += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return result, i


def fields(data):
    """(field number, wire type, value) of one protobuf message."""
    i = 0
    while i < len(data):
        key, i = varint(data, i)
        number, kind = key >> 3, key & 7
        if kind == 0:
            value, i = varint(data, i)
        elif kind == 2:
            length, i = varint(data, i)
            value, i = data[i:i + length], i + length
        elif kind == 1:
            value, i = data[i:i + 8], i + 8
        elif kind == 5:
            value, i = data[i:i + 4], i + 4
        else:
            raise ValueError(f"wire type {kind}")
        yield number, kind, value


def numbers(kind, value):
    """A repeated integer field, packed or not."""
    if kind == 0:
        return [value]
    out, i = [], 0
    while i < len(value):
        number, i = varint(value, i)
        out.append(number)
    return out


def load(path):
    """Samples as (weight, stack of function names, innermost first)."""
    strings, raw_samples, locations, functions = [], [], {}, {}
    for number, kind, value in fields(gzip.decompress(open(path, "rb").read())):
        if number == 6:
            strings.append(value.decode())
        elif number == 2:  # Sample: location ids, values
            ids, values = [], []
            for n, k, v in fields(value):
                if n == 1:
                    ids += numbers(k, v)
                elif n == 2:
                    values += numbers(k, v)
            raw_samples.append((ids, values))
        elif number == 4:  # Location: id, lines (function ids)
            lid, lines = 0, []
            for n, k, v in fields(value):
                if n == 1:
                    lid = v
                elif n == 4:
                    lines += [fv for fn, _, fv in fields(v) if fn == 1]
            locations[lid] = lines
        elif number == 5:  # Function: id, name
            fid = name = 0
            for n, k, v in fields(value):
                if n == 1:
                    fid = v
                elif n == 2:
                    name = v
            functions[fid] = name
    return [(values[-1], [strings[functions[f]] for lid in ids for f in locations.get(lid, [])])
            for ids, values in raw_samples]


def main():
    samples = load(sys.argv[1])
    total = sum(weight for weight, _ in samples) or 1
    flat, cumulative = collections.Counter(), collections.Counter()
    for weight, stack in samples:
        if stack:
            flat[stack[0]] += weight
        for name in set(stack):
            cumulative[name] += weight
    for title, counter, count in (("self", flat, 40), ("with callees", cumulative, 60)):
        print(f"--- {title}")
        for name, weight in counter.most_common(count):
            print(f"{weight / total * 100:5.1f}% {name}")
    for target in (sys.argv[2].split(",") if len(sys.argv) > 2 else []):
        callers = collections.Counter()
        for weight, stack in samples:
            if target in stack:
                i = stack.index(target)
                callers[" <- ".join(stack[i + 1:i + 3]) or "(root)"] += weight
        print(f"--- callers of {target}")
        for name, weight in callers.most_common(12):
            print(f"{weight / total * 100:5.1f}% {name}")


if __name__ == "__main__":
    main()
