"""The python-tuf side of the batch benchmark (see docs/performance.md).

Usage:
  tuf_batch.py python-tuf REQUEST OUT   the batch edit with python-tuf's Metadata API:
                                        per repository, load the current root, drop the
                                        compromised targets key, add the replacement,
                                        bump the version and expiry, sign with two
                                        Ed25519 keys (software keys: python-tuf has no
                                        SoftHSM signer without extra packages), write
  tuf_batch.py make-chain DIR N         a root chain 1..N (one Ed25519 key, threshold 1)
  tuf_batch.py verify-chain DIR         verify DIR/1.root.json .. N.root.json as the
                                        updater does: each version by the previous
                                        root's threshold and its own
"""

import json
import os
import sys
from datetime import datetime, timedelta, timezone

from securesystemslib.signer import CryptoSigner, Key
from tuf.api.metadata import Metadata, Root


def expiry(days: int) -> datetime:
    return (datetime.now(timezone.utc) + timedelta(days=days)).replace(microsecond=0)


def batch(request: str, out: str) -> None:
    with open(os.path.join(request, "request.json")) as f:
        req = json.load(f)
    signers = [CryptoSigner.generate_ed25519(), CryptoSigner.generate_ed25519()]
    expires = expiry(365)
    for i, repo in enumerate(req["repositories"]):
        with open(os.path.join(request, repo["current"][-1]), "rb") as f:
            md = Metadata[Root].from_bytes(f.read())
        root = md.signed
        for keyid in list(root.roles["targets"].keyids):
            if any(keyid.startswith(r) for r in repo["revoke"]):
                root.revoke_key(keyid, "targets")
        with open(os.path.join(request, repo["keys"]["targets"])) as f:
            data = json.load(f)
        new_key = Key.from_dict(_keyid(data), dict(data))
        root.add_key(new_key, "targets")
        root.version += 1
        root.expires = expires
        md.signatures.clear()
        for s in signers:
            md.sign(s, append=True)
        d = os.path.join(out, str(i))
        os.makedirs(d, exist_ok=True)
        md.to_file(os.path.join(d, f"{root.version}.root.json"))


def _keyid(data: dict) -> str:
    import hashlib
    from securesystemslib.formats import encode_canonical

    return hashlib.sha256(encode_canonical(data).encode()).hexdigest()


def make_chain(d: str, n: int) -> None:
    os.makedirs(d, exist_ok=True)
    signer = CryptoSigner.generate_ed25519()
    root = Root(expires=expiry(365))
    for role in ("root", "targets", "snapshot", "timestamp"):
        root.add_key(signer.public_key, role)
    md = Metadata(root)
    for v in range(1, n + 1):
        md.signed.version = v
        md.signatures.clear()
        md.sign(signer)
        md.to_file(os.path.join(d, f"{v}.root.json"))


def verify_chain(d: str) -> None:
    n = len([f for f in os.listdir(d) if f.endswith(".root.json")])
    trusted = Metadata[Root].from_file(os.path.join(d, "1.root.json"))
    trusted.verify_delegate(Root.type, trusted)
    for v in range(2, n + 1):
        new = Metadata[Root].from_file(os.path.join(d, f"{v}.root.json"))
        assert new.signed.version == trusted.signed.version + 1
        trusted.verify_delegate(Root.type, new)
        new.verify_delegate(Root.type, new)
        trusted = new
    assert not trusted.signed.is_expired()
    print(f"OK: version {trusted.signed.version}")


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "python-tuf":
        batch(args[0], args[1])
    elif cmd == "make-chain":
        make_chain(args[0], int(args[1]))
    elif cmd == "verify-chain":
        verify_chain(args[0])
    else:
        raise SystemExit(__doc__)
