#!/usr/bin/env python3
"""Converts a Parquet file to JSON Lines for `rankctl snapshot build`, one object per row, column names as keys.

    Scripts/parquet-to-jsonl.py INPUT.parquet OUTPUT.jsonl

Reads in batches, so memory stays bounded by a batch, not the file. Timestamps and dates become Unix milliseconds
(a timestamp without a zone is taken as UTC), decimals become numbers, lists and structs become arrays and objects.
A NaN or infinite float is written as the string "NaN"/"Infinity" (JSON has no such numbers), so the snapshot
checks report it instead of it silently becoming a missing value. Exit status: 0 converted, 1 unreadable input,
3 pyarrow missing (installed by Scripts/install-deps.sh --test).
"""

import datetime
import decimal
import json
import math
import sys

BATCH_ROWS = 10_000
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def plain(value):
    """The row value as something json.dumps writes as the snapshot reader expects."""
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return value
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.timezone.utc)
        return (value - EPOCH) // datetime.timedelta(milliseconds=1)
    if isinstance(value, datetime.date):
        return (value - EPOCH.date()).days * 86_400_000
    if isinstance(value, decimal.Decimal):
        return plain(float(value))
    if isinstance(value, (bytes, bytearray)):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        # pyarrow gives map columns as lists of (key, value) pairs.
        return [plain(item) for item in value]
    return value


def main(argv):
    if len(argv) != 3:
        print("usage: parquet-to-jsonl.py INPUT.parquet OUTPUT.jsonl", file=sys.stderr)
        return 2
    try:
        import pyarrow.parquet as pq
    except ImportError:
        print("pyarrow is not installed; run Scripts/install-deps.sh --test", file=sys.stderr)
        return 3
    source, target = argv[1], argv[2]
    try:
        parquet = pq.ParquetFile(source)
        with open(target, "w", encoding="utf-8") as out:
            for batch in parquet.iter_batches(batch_size=BATCH_ROWS):
                for row in batch.to_pylist():
                    out.write(json.dumps(plain(row), ensure_ascii=False, allow_nan=False))
                    out.write("\n")
    except Exception as error:  # pyarrow raises several types for a file that is not Parquet
        print(f"{source}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
