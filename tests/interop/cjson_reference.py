"""Reference canonical JSON: securesystemslib's encode_canonical.

Reads one JSON document per line on stdin and writes, per line, the hex of the
UTF-8 bytes securesystemslib produces for it (or "ERR" if it refuses).
"""

import json
import sys

from securesystemslib.formats import encode_canonical

for line in sys.stdin:
    line = line.rstrip("\n")
    if not line:
        continue
    try:
        doc = json.loads(line)
        out = encode_canonical(doc).encode("utf-8")
        sys.stdout.write(out.hex() + "\n")
    except Exception:  # noqa: BLE001 - any refusal is the answer "ERR"
        sys.stdout.write("ERR\n")
