#!/usr/bin/env python3
"""Writes the amplified Taobao workload used by the real-shaped benchmarks.

The Taobao sample (user_id,item_id,category_id,behavior_type,timestamp; no
header; timestamps never decrease) is repeated COPIES times. Copy k offsets
user and item ids by k * ID_STRIDE and shifts timestamps by k * span, where
span = last - first + 1 seconds of the sample, so event time never goes back
and every copy brings new users and items. Categories are kept, as a real
shop's catalogue keeps its categories while shoppers and products grow.

With the 110,300-line sample and the default 45 copies that is 4,963,500
events, about 3.0 M users, 3.8 M items, ~14 events per second of event time
and 98 h of event time.

Usage: amplify_taobao.py [--copies N] [--limit ROWS] SAMPLE OUT
Exit status 3 (and a message) when SAMPLE is absent, so callers can skip.
"""
import argparse
import os
import sys

ID_STRIDE = 10_000_000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sample")
    parser.add_argument("out")
    parser.add_argument("--copies", type=int, default=45)
    parser.add_argument("--limit", type=int, default=0,
                        help="stop after this many rows (0 = all)")
    args = parser.parse_args()
    if not os.path.exists(args.sample):
        print(f"skip: Taobao sample not found at {args.sample}", file=sys.stderr)
        return 3
    with open(args.sample, "rb") as f:
        rows = [line.rstrip(b"\r\n").split(b",") for line in f if line.strip()]
    first = int(rows[0][4])
    last = int(rows[-1][4])
    span = last - first + 1
    written = 0
    tmp = args.out + ".tmp"
    with open(tmp, "wb") as out:
        for copy in range(args.copies):
            id_offset = copy * ID_STRIDE
            time_offset = copy * span
            chunk = []
            for user, item, category, behaviour, ts in rows:
                chunk.append(b"%d,%d,%s,%s,%d\n" % (
                    int(user) + id_offset, int(item) + id_offset, category,
                    behaviour, int(ts) + time_offset))
                written += 1
                if args.limit and written >= args.limit:
                    break
            out.write(b"".join(chunk))
            if args.limit and written >= args.limit:
                break
    os.replace(tmp, args.out)
    print(f"wrote {written} events ({args.copies} copies, span {span} s) to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
