"""Make roots with python-tuf in every key form real roots use, for us to verify.

Usage: tuf_make_forms.py OUTDIR

Writes OUTDIR/<form>/1.root.json and 2.root.json, where <form> is one of
  rsa-pss, rsa-pkcs1v15, ecdsa-p384, ecdsa-p384-legacy-keytype, ecdsa-p256-legacy-keytype,
  ed25519-tuf-on-ci-ids (key IDs hash the whole key object, x-tuf-on-ci fields
  included), mixed-2-of-3 (ed25519, RSA-PSS, P-384)
Each 1.root.json is 1-of-1 (2-of-3 for mixed), and 2.root.json rotates the root
key to a fresh key of the same form, signed by the old and the new. Also writes
OUTDIR/rsa-1024/1.root.json (a weak RSA key; python-tuf accepts it) and
OUTDIR/unsupported-online-key/1.root.json (a root that lists an online key of a
type python-tuf does not know: it refuses the root; for us it stays readable).
"""

import copy
import hashlib
import json
import os
import sys
from datetime import datetime, timedelta, timezone

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from securesystemslib.formats import encode_canonical
from securesystemslib.signer import CryptoSigner, SSlibKey
from tuf.api.metadata import Metadata, Root


def expiry(days: int) -> datetime:
    return (datetime.now(timezone.utc) + timedelta(days=days)).replace(microsecond=0)


def write(md: Metadata, path: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    md.to_file(path)


def private(form: str):
    if form == "rsa-pss":
        return rsa.generate_private_key(65537, 3072), None
    if form == "rsa-pkcs1v15":
        return rsa.generate_private_key(65537, 2048), "rsa-pkcs1v15-sha256"
    if form == "rsa-1024":
        return rsa.generate_private_key(65537, 1024), None
    if form.startswith("ecdsa-p384"):
        return ec.generate_private_key(ec.SECP384R1()), None
    if form == "ecdsa-p256-legacy-keytype":
        return ec.generate_private_key(ec.SECP256R1()), None
    return ed25519.Ed25519PrivateKey.generate(), None


def signer(form: str) -> CryptoSigner:
    """A signer whose public key object is the one a producer of `form` writes."""
    key, scheme = private(form)
    d = SSlibKey.from_crypto(key.public_key(), scheme=scheme).to_dict()
    keyid = None
    if form == "ecdsa-p384-legacy-keytype":
        d["keytype"] = "ecdsa-sha2-nistp384"
    if form == "ecdsa-p256-legacy-keytype":
        d["keytype"] = "ecdsa-sha2-nistp256"
    if form.endswith("legacy-keytype"):
        d["keyid_hash_algorithms"] = ["sha256", "sha512"]
        keyid = hashlib.sha256(encode_canonical(d).encode()).hexdigest()
    if form == "ed25519-tuf-on-ci-ids":
        d["x-tuf-on-ci-keyowner"] = "@keyholder"
        keyid = hashlib.sha256(encode_canonical(d).encode()).hexdigest()
    if keyid is None:
        keyid = hashlib.sha256(encode_canonical(
            {k: d[k] for k in ("keytype", "scheme", "keyval")}).encode()).hexdigest()
    return CryptoSigner(key, SSlibKey.from_dict(keyid, copy.deepcopy(d)))


def chain(out: str, form: str, forms: list[str], threshold: int) -> None:
    old = [signer(f) for f in forms]
    online = CryptoSigner.generate_ed25519()
    root = Root(expires=expiry(365))
    for s in old:
        root.add_key(s.public_key, Root.type)
    root.roles[Root.type].threshold = threshold
    for role in ("targets", "snapshot", "timestamp"):
        root.add_key(online.public_key, role)
    v1 = Metadata(root)
    for s in old[:threshold]:
        v1.sign(s, append=True)
    write(v1, f"{out}/{form}/1.root.json")
    if form in ("rsa-1024",):
        return
    v2 = Metadata.from_bytes(v1.to_bytes())
    v2.signatures.clear()
    v2.signed.version = 2
    new = signer(forms[0])
    v2.signed.revoke_key(old[0].public_key.keyid, Root.type)
    v2.signed.add_key(new.public_key, Root.type)
    for s in old[:threshold] + [new]:
        v2.sign(s, append=True)
    write(v2, f"{out}/{form}/2.root.json")


def main(out: str) -> None:
    for form in ("rsa-pss", "rsa-pkcs1v15", "ecdsa-p384", "ecdsa-p384-legacy-keytype",
                 "ecdsa-p256-legacy-keytype", "ed25519-tuf-on-ci-ids", "rsa-1024"):
        chain(out, form, [form], 1)
    chain(out, "mixed-2-of-3", ["ed25519", "rsa-pss", "ecdsa-p384"], 2)

    # An online key of a type python-tuf does not know (it refuses the whole
    # root): for us the root stays readable, and the key counts as no signature.
    s = CryptoSigner.generate_ed25519()
    online = CryptoSigner.generate_ed25519()
    root = Root(expires=expiry(365))
    root.add_key(s.public_key, Root.type)
    for role in ("targets", "snapshot", "timestamp"):
        root.add_key(online.public_key, role)
    d = Metadata(root).to_dict()
    d["signed"]["keys"][online.public_key.keyid] = {
        "keytype": "sphincs", "scheme": "sphincs-shake-256s", "keyval": {"public": "00ff"}}
    d["signatures"] = [s.sign(encode_canonical(d["signed"]).encode()).to_dict()]
    os.makedirs(f"{out}/unsupported-online-key")
    with open(f"{out}/unsupported-online-key/1.root.json", "w") as fh:
        json.dump(d, fh, indent=1)


if __name__ == "__main__":
    main(sys.argv[1])
