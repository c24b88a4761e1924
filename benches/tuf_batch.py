"""The python-tuf side of the batch benchmark (see docs/performance.md).

Usage:
  tuf_batch.py python-tuf REQUEST OUT   the batch edit with python-tuf's Metadata API:
                                        per repository, load the current root, drop the
                                        compromised targets key, add the replacement,
                                        bump the version and expiry, sign with two
                                        Ed25519 keys (software keys: python-tuf has no
                                        SoftHSM signer without extra packages), and
                                        append it to OUT/roots.pack, as the ceremony's
                                        export does (a file per repository would cost
                                        python-tuf more than signing)
  tuf_batch.py python-tuf-hsm REQUEST OUT MODULE PIN_FILE LABEL...
                                        the same, signing on the SoftHSM2 tokens LABEL...
                                        (the ceremony's own root keys) through PyKCS11
                                        (pip install PyKCS11), one session per token
  tuf_batch.py python-tuf-hsm-checked REQUEST OUT MODULE PIN_FILE LABEL...
                                        the same, making the checks the ceremony makes:
                                        each current root verified by its own root role
                                        before the edit, each new root by the current
                                        root's role and its own after signing
  tuf_batch.py make-chain DIR N         a root chain 1..N (one Ed25519 key, threshold 1)
  tuf_batch.py verify-chain DIR         verify DIR/1.root.json .. N.root.json as the
                                        updater does: each version by the previous
                                        root's threshold and its own
"""

import json
import os
import sys
from datetime import datetime, timedelta, timezone

from securesystemslib.signer import CryptoSigner, Key, Signature, Signer
from tuf.api.metadata import Metadata, Root


def expiry(days: int) -> datetime:
    return (datetime.now(timezone.utc) + timedelta(days=days)).replace(microsecond=0)


def batch(request: str, out: str, signers=None, checked: bool = False) -> None:
    with open(os.path.join(request, "request.json")) as f:
        req = json.load(f)
    if signers is None:
        signers = [CryptoSigner.generate_ed25519(), CryptoSigner.generate_ed25519()]
    expires = expiry(365)
    os.makedirs(out, exist_ok=True)
    pack = open(os.path.join(out, "roots.pack"), "wb")
    for repo in req["repositories"]:
        current = _read(request, repo, repo["current"][-1])
        md = Metadata[Root].from_bytes(current)
        if checked:
            md.verify_delegate(Root.type, md)
            previous = Metadata[Root].from_bytes(current)
        root = md.signed
        for keyid in list(root.roles["targets"].keyids):
            if any(keyid.startswith(r) for r in repo["revoke"]):
                root.revoke_key(keyid, "targets")
        data = json.loads(_read(request, repo, repo["keys"]["targets"]))
        new_key = Key.from_dict(_keyid(data), dict(data))
        root.add_key(new_key, "targets")
        root.version += 1
        root.expires = expires
        md.signatures.clear()
        for s in signers:
            md.sign(s, append=True)
        if checked:
            previous.verify_delegate(Root.type, md)
            md.verify_delegate(Root.type, md)
        pack.write(md.to_bytes())
    pack.close()


def _read(request: str, repo: dict, name: str) -> bytes:
    """A file of a repository of the request: a part of a pack, or a file."""
    part = repo.get("packed", {}).get(name)
    if part is None:
        with open(os.path.join(request, name), "rb") as f:
            return f.read()
    with open(os.path.join(request, part["file"]), "rb") as f:
        f.seek(part["offset"])
        return f.read(part["size"])


class Pkcs11Signer(Signer):
    """A securesystemslib signer for an Ed25519 key on a PKCS#11 token (CKM_EDDSA)."""

    def __init__(self, session, private, public_key: Key):
        self._session = session
        self._private = private
        self._public_key = public_key

    @classmethod
    def from_priv_key_uri(cls, priv_key_uri, public_key, secrets_handler=None):
        raise NotImplementedError("made directly by the benchmark")

    @property
    def public_key(self) -> Key:
        return self._public_key

    def sign(self, payload: bytes) -> Signature:
        import PyKCS11

        raw = self._session.sign(self._private, payload, PyKCS11.Mechanism(PyKCS11.CKM_EDDSA, None))
        return Signature(self._public_key.keyid, bytes(raw).hex())


def hsm_signers(module: str, pin_file: str, labels: list) -> list:
    import PyKCS11

    lib = PyKCS11.PyKCS11Lib()
    lib.load(module)
    with open(pin_file) as f:
        pin = f.read().strip()
    signers = []
    for label in labels:
        slot = next(
            s for s in lib.getSlotList(tokenPresent=True) if lib.getTokenInfo(s).label.strip() == label
        )
        session = lib.openSession(slot)
        session.login(pin)
        private = session.findObjects([(PyKCS11.CKA_CLASS, PyKCS11.CKO_PRIVATE_KEY)])[0]
        public = session.findObjects([(PyKCS11.CKA_CLASS, PyKCS11.CKO_PUBLIC_KEY)])[0]
        point = bytes(session.getAttributeValue(public, [PyKCS11.CKA_EC_POINT])[0])
        raw = point[2:] if len(point) == 34 and point[0] == 0x04 else point
        data = {"keytype": "ed25519", "scheme": "ed25519", "keyval": {"public": raw.hex()}}
        signers.append(Pkcs11Signer(session, private, Key.from_dict(_keyid(data), dict(data))))
    return signers


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
    elif cmd == "python-tuf-hsm":
        batch(args[0], args[1], hsm_signers(args[2], args[3], args[4:]))
    elif cmd == "python-tuf-hsm-checked":
        batch(args[0], args[1], hsm_signers(args[2], args[3], args[4:]), checked=True)
    elif cmd == "make-chain":
        make_chain(args[0], int(args[1]))
    elif cmd == "verify-chain":
        verify_chain(args[0])
    else:
        raise SystemExit(__doc__)
