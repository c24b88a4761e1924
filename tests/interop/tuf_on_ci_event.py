"""Make a tuf-on-ci-shaped signing event in CHECKOUT, as tuf-on-ci's signer leaves one.

Usage: tuf_on_ci_event.py CHECKOUT NEW_ROOT_KEY_JSON

Root version 1 (metadata/root_history/1.root.json): one root key, @alice's,
threshold 1, online keys for the other roles. Root version 2, the event
(metadata/root.json and root_history/2.root.json, identical): @erin's key (the
key object in NEW_ROOT_KEY_JSON) joins and the root threshold becomes 2. As
tuf-on-ci does, every root key gets an empty placeholder signature (the
trusted root's keys first, then the new ones), and @alice has signed, filling
hers in place. tuf-on-ci's fields are set where tuf-on-ci sets them
(x-tuf-on-ci-keyowner on offline keys, x-tuf-on-ci-online-uri on the online
key, x-tuf-on-ci-expiry-period and x-tuf-on-ci-signing-period in signed and in
the timestamp and snapshot roles), and every file is written with python-tuf's
JSONSerializer(), as tuf-on-ci writes them.
"""

import copy
import hashlib
import json
import os
import sys
from datetime import datetime, timedelta, timezone

from securesystemslib.signer import CryptoSigner
from tuf.api.metadata import Key, Metadata, Root, Signature
from tuf.api.serialization.json import JSONSerializer


def keyid(key_dict: dict) -> str:
    canonical = json.dumps(key_dict, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def write(path: str, md: Metadata) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(md.to_bytes(JSONSerializer()))


def main(checkout: str, new_key_path: str) -> int:
    alice = CryptoSigner.generate_ecdsa()
    online = CryptoSigner.generate_ecdsa()
    alice_key = copy.deepcopy(alice.public_key)
    alice_key.unrecognized_fields["x-tuf-on-ci-keyowner"] = "@alice"
    online_key = copy.deepcopy(online.public_key)
    online_key.unrecognized_fields["x-tuf-on-ci-online-uri"] = "gcpkms:projects/p/locations/l/keyRings/r/cryptoKeys/online/cryptoKeyVersions/1"

    expires = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(days=365)
    root = Root(expires=expires)
    root.unrecognized_fields["x-tuf-on-ci-expiry-period"] = 365
    root.unrecognized_fields["x-tuf-on-ci-signing-period"] = 60
    root.add_key(alice_key, Root.type)
    for role in ("targets", "snapshot", "timestamp"):
        root.add_key(online_key, role)
    for role in ("snapshot", "timestamp"):
        root.roles[role].unrecognized_fields["x-tuf-on-ci-expiry-period"] = 7
        root.roles[role].unrecognized_fields["x-tuf-on-ci-signing-period"] = 3
    v1 = Metadata(root)
    v1.sign(alice)
    write(os.path.join(checkout, "metadata/root_history/1.root.json"), v1)

    with open(new_key_path, encoding="utf-8") as f:
        erin_dict = json.load(f)
    erin_key = Key.from_dict(keyid(erin_dict), copy.deepcopy(erin_dict))
    erin_key.unrecognized_fields["x-tuf-on-ci-keyowner"] = "@erin"

    root2 = copy.deepcopy(root)
    root2.version = 2
    root2.add_key(erin_key, Root.type)
    root2.roles[Root.type].threshold = 2
    v2 = Metadata(root2)
    # tuf-on-ci's close(): a placeholder for every key that signs this version.
    for k in (alice_key.keyid, erin_key.keyid):
        v2.signatures[k] = Signature(k, "")
    v2.sign(alice, append=True)
    write(os.path.join(checkout, "metadata/root.json"), v2)
    write(os.path.join(checkout, "metadata/root_history/2.root.json"), v2)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
