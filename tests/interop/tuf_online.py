"""The online side of a TUF repository, played by python-tuf: its own online keys,
its own targets/snapshot/timestamp, and its ngclient Updater as the judge of the
root chain our ceremonies publish.

Usage:
  tuf_online.py keys KEYDIR ROLE...        new ECDSA keys: KEYDIR/ROLE.pem (private,
                                           test fixture) and KEYDIR/ROLE.json (the
                                           public key object a request carries)
  tuf_online.py sign-top REPO KEYDIR...    sign targets, snapshot and timestamp for
                                           the repository's current root.json with
                                           whichever of the keys it lists
  tuf_online.py update URL ROOT WORKDIR    ngclient: trust ROOT, refresh from URL;
                                           prints the trusted root version; exit 1
                                           with the error if the updater refuses
"""

import json
import os
import sys
from datetime import datetime, timedelta, timezone

from cryptography.hazmat.primitives import serialization
from securesystemslib.signer import CryptoSigner
from tuf.api.metadata import Metadata, Root, Snapshot, Targets, Timestamp, MetaFile
from tuf.api.serialization.json import JSONSerializer


def expiry(days: int) -> datetime:
    return (datetime.now(timezone.utc) + timedelta(days=days)).replace(microsecond=0)


def keys(keydir: str, roles: list) -> None:
    os.makedirs(keydir, exist_ok=True)
    for role in roles:
        signer = CryptoSigner.generate_ecdsa()
        pem = signer._private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        with open(os.path.join(keydir, role + ".pem"), "wb") as f:
            f.write(pem)
        with open(os.path.join(keydir, role + ".json"), "w") as f:
            json.dump(signer.public_key.to_dict(), f)


def load_signers(keydirs: list) -> dict:
    """keyid -> signer, for every key in the key directories."""
    out = {}
    for keydir in keydirs:
        for name in os.listdir(keydir):
            if not name.endswith(".pem"):
                continue
            with open(os.path.join(keydir, name), "rb") as f:
                private = serialization.load_pem_private_key(f.read(), None)
            signer = CryptoSigner(private)
            out[signer.public_key.keyid] = signer
    return out


def sign_top(repo: str, keydirs: list) -> None:
    root = Metadata[Root].from_file(os.path.join(repo, "root.json")).signed
    signers = load_signers(keydirs)

    def signed(md, role):
        for keyid in root.roles[role].keyids:
            if keyid in signers:
                md.sign(signers[keyid], append=True)
        if not md.signatures:
            raise SystemExit(f"no key for {role} among {sorted(signers)}")
        return md

    def version_of(name):
        path = os.path.join(repo, name)
        if not os.path.exists(path):
            return 0
        return Metadata.from_file(path).signed.version

    targets = Metadata(Targets(version=version_of("targets.json") + 1, expires=expiry(90)))
    signed(targets, "targets")
    targets_bytes = targets.to_bytes(JSONSerializer())
    snapshot = Metadata(Snapshot(version=version_of("snapshot.json") + 1, expires=expiry(30)))
    snapshot.signed.meta["targets.json"] = MetaFile(version=targets.signed.version)
    signed(snapshot, "snapshot")
    timestamp = Metadata(Timestamp(version=version_of("timestamp.json") + 1, expires=expiry(7)))
    timestamp.signed.snapshot_meta = MetaFile(version=snapshot.signed.version)
    signed(timestamp, "timestamp")
    with open(os.path.join(repo, "targets.json"), "wb") as f:
        f.write(targets_bytes)
    snapshot.to_file(os.path.join(repo, "snapshot.json"))
    timestamp.to_file(os.path.join(repo, "timestamp.json"))


def update(url: str, root: str, workdir: str) -> None:
    from tuf.ngclient import Updater

    meta = os.path.join(workdir, "metadata")
    os.makedirs(meta, exist_ok=True)
    with open(root, "rb") as f:
        bootstrap = f.read()
    updater = Updater(
        bootstrap=bootstrap,
        metadata_dir=meta,
        metadata_base_url=url,
        target_dir=os.path.join(workdir, "targets"),
        target_base_url=url + "/targets/",
    )
    try:
        updater.refresh()
    except Exception as e:  # the judge's verdict, reported to the test
        print(f"REFUSED {type(e).__name__}: {e}")
        sys.exit(1)
    trusted = Metadata[Root].from_file(os.path.join(meta, "root.json")).signed
    print(f"ACCEPTED root version {trusted.version}")


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "keys":
        keys(args[0], args[1:])
    elif cmd == "sign-top":
        sign_top(args[0], args[1:])
    elif cmd == "update":
        update(args[0], args[1], args[2])
    else:
        raise SystemExit(__doc__)
