"""A root rotation drafted and partly signed by python-tuf, for us to countersign.

Usage: tuf_countersign.py OUTDIR OUR_KEY_JSON

OUR_KEY_JSON is the key object of one of our keys (from `ceremony key show`).
Writes OUTDIR/1.root.json: 2-of-2 (a python-tuf key and ours), signed by the
python-tuf key only; and OUTDIR/2.root.json: a third key added (2-of-3), expiry
moved, signed by the python-tuf key and the new key. Version 2 needs our
signature as a version-1 root key to meet version 1's threshold.
"""

import json
import sys
from datetime import datetime, timedelta, timezone

from securesystemslib.signer import CryptoSigner
from tuf.api.metadata import Key, Metadata, Root


def expiry(days: int) -> datetime:
    return (datetime.now(timezone.utc) + timedelta(days=days)).replace(microsecond=0)


def main(out: str, our_key_path: str) -> None:
    with open(our_key_path) as fh:
        d = json.load(fh)
    ours = Key.from_dict(d.pop("keyid"), d)
    theirs = CryptoSigner.generate_ed25519()
    new = CryptoSigner.generate_ed25519()
    online = CryptoSigner.generate_ed25519()
    root = Root(expires=expiry(365))
    root.add_key(theirs.public_key, Root.type)
    root.add_key(ours, Root.type)
    root.roles[Root.type].threshold = 2
    for role in ("targets", "snapshot", "timestamp"):
        root.add_key(online.public_key, role)
    v1 = Metadata(root)
    v1.sign(theirs)
    v1.to_file(f"{out}/1.root.json")

    v2 = Metadata.from_bytes(v1.to_bytes())
    v2.signatures.clear()
    v2.signed.version = 2
    v2.signed.expires = expiry(730)
    v2.signed.add_key(new.public_key, Root.type)
    v2.sign(theirs, append=True)
    v2.sign(new, append=True)
    v2.to_file(f"{out}/2.root.json")


if __name__ == "__main__":
    main(*sys.argv[1:])
