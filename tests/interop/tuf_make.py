"""Make roots with python-tuf, for us to verify.

Usage: tuf_make.py OUTDIR

Writes:
  chain/1.root.json  2-of-3 root (ed25519, ecdsa, ed25519 keys)
  chain/2.root.json  one root key replaced, signed by 2 old keys and 2 of the new set
  chain/3.root.json  expiry refreshed, signed by the v2 keys
  bad/2.root.json    v2 signed only by the new key set's new key (no old threshold)
  single/root.json   1-of-1 ecdsa root
"""

import os
import sys
from datetime import datetime, timedelta, timezone

from securesystemslib.signer import CryptoSigner
from tuf.api.metadata import Metadata, Root


def expiry(days: int) -> datetime:
    return (datetime.now(timezone.utc) + timedelta(days=days)).replace(microsecond=0)


def write(md: Metadata, path: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    md.to_file(path)


def main(out: str) -> None:
    a = CryptoSigner.generate_ed25519()
    b = CryptoSigner.generate_ecdsa()
    c = CryptoSigner.generate_ed25519()
    d = CryptoSigner.generate_ecdsa()
    online = CryptoSigner.generate_ed25519()

    root = Root(expires=expiry(365))
    for s in (a, b, c):
        root.add_key(s.public_key, Root.type)
    for role in ("targets", "snapshot", "timestamp"):
        root.add_key(online.public_key, role)
    root.roles[Root.type].threshold = 2
    v1 = Metadata(root)
    v1.sign(a, append=True)
    v1.sign(b, append=True)
    write(v1, f"{out}/chain/1.root.json")

    v2 = Metadata.from_bytes(v1.to_bytes())
    v2.signatures.clear()
    v2.signed.version = 2
    v2.signed.revoke_key(c.public_key.keyid, Root.type)
    v2.signed.add_key(d.public_key, Root.type)
    v2_bad = Metadata.from_bytes(v2.to_bytes())
    for s in (a, b, d):
        v2.sign(s, append=True)
    write(v2, f"{out}/chain/2.root.json")

    v2_bad.sign(d, append=True)
    write(v2_bad, f"{out}/bad/2.root.json")

    v3 = Metadata.from_bytes(v2.to_bytes())
    v3.signatures.clear()
    v3.signed.version = 3
    v3.signed.expires = expiry(730)
    v3.sign(b, append=True)
    v3.sign(d, append=True)
    write(v3, f"{out}/chain/3.root.json")

    single = Root(expires=expiry(30))
    single.add_key(b.public_key, Root.type)
    for role in ("targets", "snapshot", "timestamp"):
        single.add_key(online.public_key, role)
    s = Metadata(single)
    s.sign(b)
    write(s, f"{out}/single/root.json")


if __name__ == "__main__":
    main(sys.argv[1])
