"""Make the parser-differential corpus: roots crafted to be read one way by us and
another way by a client, each named by the trick it plays.

Usage: make.py            (from anywhere; writes beside this file)

Every case is a directory `tuf/<case>/` or `notary/<case>/` holding a chain of
`N.root.json` files (most hold one). Everything is signed with fixed test keys, so
a refusal is for the trick, never for a bad signature. `cases.tsv` says, for each
case, what the independent judge does with it (python-tuf for TUF; for Notary, a
program built on Notary's own Go source, the stock client's decoder and root
validation) and what `ceremony` must do, with a piece of our expected error.

Python's dicts keep insertion order and the files are written in that order: a
shadow field ("Keys" after "keys") comes after the field it shadows, as an
attacker would write it, because Go's decoder keeps the last field that matches.

Re-running it makes new ECDSA signatures (they are randomised) and the same cases.
"""

import base64
import copy
import datetime
import hashlib
import json
import os
import shutil

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from securesystemslib.formats import encode_canonical

HERE = os.path.dirname(os.path.abspath(__file__))
GUN = "example.com/differential/app"
EXPIRES = "2036-01-01T00:00:00Z"
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def seed(name: str) -> bytes:
    return hashlib.sha256(b"ceremony differential corpus " + name.encode()).digest()


def integral(value):
    """Whole floats as integers, the way Notary's verifier re-encodes numbers."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: integral(v) for k, v in value.items()}
    if isinstance(value, list):
        return [integral(v) for v in value]
    return value


def canonical(signed) -> bytes:
    return encode_canonical(integral(signed)).encode("utf-8")


# ---------------------------------------------------------------- TUF keys


class TufKey:
    def __init__(self, name: str):
        self.private = ed25519.Ed25519PrivateKey.from_private_bytes(seed(name))
        raw = self.private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.obj = {"keytype": "ed25519", "scheme": "ed25519", "keyval": {"public": raw.hex()}}
        self.id = hashlib.sha256(canonical(self.obj)).hexdigest()

    def sign(self, signed) -> dict:
        return {"keyid": self.id, "sig": self.private.sign(canonical(signed)).hex()}


def tuf_obj(public_hex: str) -> dict:
    return {"keytype": "ed25519", "scheme": "ed25519", "keyval": {"public": public_hex}}


def tuf_id(obj) -> str:
    return hashlib.sha256(canonical(obj)).hexdigest()


# ---------------------------------------------------------------- Notary keys


def p256(name: str):
    return ec.derive_private_key(int.from_bytes(seed(name), "big") % P256_ORDER, ec.SECP256R1())


def raw_sig(private, message: bytes) -> str:
    r, s = decode_dss_signature(private.sign(message, ec.ECDSA(hashes.SHA256())))
    return base64.b64encode(r.to_bytes(32, "big") + s.to_bytes(32, "big")).decode()


def certificate(private, names, not_before, not_after, ca=False, hash_alg=None, serial=7):
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, n) for n in names])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(private.public_key())
        .serial_number(serial)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(
            x509.KeyUsage(True, False, True, False, False, ca, False, False, False), critical=True
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    return builder.sign(private, hash_alg or hashes.SHA256())


def utc(year, month=1, day=1):
    return datetime.datetime(year, month, day, tzinfo=datetime.timezone.utc)


class NotaryRootKey:
    """A root key: a P-256 key and the Notary certificate (PEM text as Go writes it)."""

    def __init__(self, name, names=(GUN,), not_before=None, not_after=None, ca=False,
                 hash_alg=None, pem_text=None):
        self.private = p256(name)
        cert = certificate(
            self.private,
            list(names),
            not_before or utc(2025),
            not_after or utc(2046),
            ca=ca,
            hash_alg=hash_alg,
        )
        self.pem = pem_text(cert) if pem_text else cert.public_bytes(serialization.Encoding.PEM).decode()
        self.obj = {
            "keytype": "ecdsa-x509",
            "keyval": {"private": None, "public": base64.b64encode(self.pem.encode()).decode()},
        }
        self.id = hashlib.sha256(canonical(self.obj)).hexdigest()

    def sign(self, signed) -> dict:
        return {"keyid": self.id, "method": "ecdsa", "sig": raw_sig(self.private, canonical(signed))}


class NotaryOnlineKey:
    def __init__(self, name):
        self.private = p256(name)
        der = self.private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.obj = {"keytype": "ecdsa", "keyval": {"private": None, "public": base64.b64encode(der).decode()}}
        self.id = hashlib.sha256(canonical(self.obj)).hexdigest()


# ---------------------------------------------------------------- roots


TUF_ROOT = [TufKey("tuf root a"), TufKey("tuf root b"), TufKey("tuf root c")]
TUF_ONLINE = {r: TufKey("tuf " + r) for r in ("targets", "snapshot", "timestamp")}
TUF_ATTACKER = TufKey("tuf attacker")


def tuf_root(version=1, root_keys=None, threshold=1):
    root_keys = root_keys or TUF_ROOT[:1]
    keys = {k.id: copy.deepcopy(k.obj) for k in root_keys}
    roles = {"root": {"keyids": [k.id for k in root_keys], "threshold": threshold}}
    for role, k in TUF_ONLINE.items():
        keys[k.id] = copy.deepcopy(k.obj)
        roles[role] = {"keyids": [k.id], "threshold": 1}
    return {
        "_type": "root",
        "spec_version": "1.0.31",
        "version": version,
        "expires": EXPIRES,
        "consistent_snapshot": True,
        "keys": keys,
        "roles": roles,
    }


N_ROOT = [NotaryRootKey("notary root a"), NotaryRootKey("notary root b")]
N_ONLINE = {r: NotaryOnlineKey("notary " + r) for r in ("targets", "snapshot", "timestamp")}
N_ATTACKER = NotaryRootKey("notary attacker")
N_ATTACKER_ONLINE = NotaryOnlineKey("notary attacker targets")


def notary_root(version=1, root_keys=None, threshold=1):
    root_keys = root_keys or N_ROOT[:1]
    keys = {k.id: copy.deepcopy(k.obj) for k in root_keys}
    roles = {"root": {"keyids": [k.id for k in root_keys], "threshold": threshold}}
    for role, k in N_ONLINE.items():
        keys[k.id] = copy.deepcopy(k.obj)
        roles[role] = {"keyids": [k.id], "threshold": 1}
    return {
        "_type": "Root",
        "consistent_snapshot": False,
        "expires": EXPIRES,
        "keys": keys,
        "roles": roles,
        "version": version,
    }


# ---------------------------------------------------------------- cases

CASES = []  # (flavour, name, judge, ours, error, files)


def case(flavour, name, judge, ours, error, files):
    """files: [(file name, bytes)]"""
    assert ours in ("accept", "refuse") and judge in ("accept", "refuse")
    assert ours == "accept" or error, name
    CASES.append((flavour, name, judge, ours, error, files))


def dump(envelope) -> bytes:
    return (json.dumps(envelope, indent=1, ensure_ascii=False) + "\n").encode()


def signed_by(signed, signers):
    return {"signatures": [s.sign(signed) for s in signers], "signed": signed}


def one(flavour, name, judge, ours, error, signed, signers=None, post=None, raw=None):
    signers = signers or (TUF_ROOT[:1] if flavour == "tuf" else N_ROOT[:1])
    env = signed_by(signed, signers)
    if post:
        post(env)
    data = dump(env)
    if raw:
        data = raw(data)
    version = signed.get("version") if isinstance(signed.get("version"), int) else 1
    case(flavour, name, judge, ours, error, [(f"{version if version > 0 else 1}.root.json", data)])


def shadow(d, name, value):
    d[name] = value
    return d


# Field names as Go's decoder folds them onto a known one: ASCII case, the Kelvin
# sign (U+212A) for k, the long s (U+017F) for s.
def variants(field):
    out = [field[0].upper() + field[1:], field.upper()] if field[0] != "_" else [
        "_" + field[1].upper() + field[2:], field.upper()]
    if "k" in field:
        out.append(field.replace("k", "\u212a", 1))
    if "s" in field:
        out.append(field.replace("s", "\u017f", 1))
    return out


def ascii_name(v):
    """A field name as a file name: case kept, the two folding letters spelt out."""
    return v.replace("\u212a", "[kelvin-k]").replace("\u017f", "[long-s]")


def tuf_cases():
    f = "tuf"
    one(f, "baseline", "accept", "accept", None, tuf_root())
    one(f, "baseline-2-of-3", "accept", "accept", None, tuf_root(root_keys=TUF_ROOT, threshold=2),
        signers=TUF_ROOT[:2])
    r = tuf_root()
    r["x-producer-note"] = "made by another tool"
    one(f, "unknown-field-in-signed-kept", "accept", "accept", None, r)
    r = tuf_root()
    for k in r["keys"].values():
        k["x-tuf-on-ci-keyowner"] = "@someone"
    one(f, "tuf-on-ci-key-fields-kept", "accept", "accept", None, r)
    for sv in ("1.0", "1.0.0", "1.0.19", "1.99.0"):
        r = tuf_root()
        r["spec_version"] = sv
        one(f, f"spec-version-{sv}", "accept", "accept", None, r)

    # Shadow fields at every level, each with an attacker's value.
    attacker_keys = {TUF_ATTACKER.id: TUF_ATTACKER.obj}
    attacker_roles = {role: {"keyids": [TUF_ATTACKER.id], "threshold": 1}
                      for role in ("root", "targets", "snapshot", "timestamp")}
    values = {
        "_type": "root", "spec_version": "1.0.31", "consistent_snapshot": False, "version": 99,
        "expires": "2099-01-01T00:00:00Z", "keys": attacker_keys, "roles": attacker_roles,
    }
    for field, value in values.items():
        for v in variants(field):
            r = tuf_root()
            shadow(r, v, copy.deepcopy(value))
            one(f, f"shadow-signed-{ascii_name(v)}", "accept", "refuse", "Go", r)
    for field, value in {"keytype": "rsa", "scheme": "rsassa-pss-sha256",
                         "keyval": {"public": TUF_ATTACKER.obj["keyval"]["public"]}}.items():
        for v in variants(field):
            r = tuf_root()
            shadow(r["keys"][TUF_ROOT[0].id], v, copy.deepcopy(value))
            one(f, f"shadow-key-{ascii_name(v)}", "accept", "refuse", "Go", r)
    for v in variants("public"):
        r = tuf_root()
        shadow(r["keys"][TUF_ROOT[0].id]["keyval"], v, TUF_ATTACKER.obj["keyval"]["public"])
        one(f, f"shadow-keyval-{ascii_name(v)}", "accept", "refuse", "Go", r)
    for field, value in {"keyids": [TUF_ATTACKER.id], "threshold": 2}.items():
        for v in variants(field):
            r = tuf_root()
            shadow(r["roles"]["root"], v, copy.deepcopy(value))
            one(f, f"shadow-role-{ascii_name(v)}", "accept", "refuse", "Go", r)
    for field in ("keyid", "sig"):
        for v in variants(field):
            def post(env, v=v, field=field):
                env["signatures"][0][v] = TUF_ATTACKER.id if field == "keyid" else "00" * 64
            one(f, f"shadow-signature-{ascii_name(v)}", "accept", "refuse", "Go", tuf_root(), post=post)
    for field in ("signed", "signatures"):
        for v in variants(field):
            def post(env, v=v, field=field):
                env[v] = {} if field == "signed" else []
            one(f, f"shadow-envelope-{ascii_name(v)}", "accept", "refuse", "Go", tuf_root(), post=post)

    # Role names: exactly the four top-level roles.
    for extra, label in (("Root", "Root"), ("root ", "root-trailing-space"), ("ROOT", "ROOT"),
                         ("mirror", "mirror"), ("root\u200b", "root-zero-width-space"),
                         ("targets/releases", "targets-releases")):
        r = tuf_root()
        r["roles"][extra] = copy.deepcopy(r["roles"]["root"])
        one(f, f"extra-role-{label}", "refuse", "refuse", "role", r)
    r = tuf_root()
    del r["roles"]["timestamp"]
    one(f, "missing-role-timestamp", "refuse", "refuse", "timestamp is missing", r)

    # spec_version as python-tuf checks it, and stricter where python-tuf is lenient.
    for sv, judge in (("2.0.0", "refuse"), ("banana", "refuse"), ("1.0.31-rc1", "refuse"),
                      ("1", "refuse"), ("1.0.0.0", "refuse"), ("01.0.0", "refuse"),
                      ("1.0.\u0663", "accept"), ("\u0661.0.0", "refuse"), ("", "refuse"),
                      (" 1.0.0", "refuse"), ("1.0.0 ", "refuse"), ("v1.0.0", "refuse"),
                      ("1..0", "refuse"), ("1.0.-1", "refuse"), ("1.0.+1", "refuse")):
        r = tuf_root()
        r["spec_version"] = sv
        name = sv.encode("ascii", "backslashreplace").decode().replace("\\", "u").replace(" ", "space")
        one(f, f"spec-version-{name or 'empty'}", judge, "refuse", "spec_version", r)

    # expires: exactly YYYY-MM-DDTHH:MM:SSZ, a real time, round-tripping.
    for text, judge, label in (
        ("+2031-01-01T00:00:00Z", "refuse", "plus-sign-year"),
        ("+10000-01-01T00:00:00Z", "refuse", "five-digit-year"),
        ("2031-01-01T00:00:60Z", "refuse", "second-60"),
        ("2031-1-01T00:00:00Z", "refuse", "unpadded-month"),
        ("2031-01-1T00:00:00Z", "refuse", "unpadded-day"),
        ("2031-01-01T0:00:00Z", "refuse", "unpadded-hour"),
        ("2031-01-01t00:00:00z", "refuse", "lowercase-t-z"),
        ("2031-01-01T00:00:00z", "refuse", "lowercase-z"),
        ("2031-01-01 00:00:00Z", "refuse", "space-for-t"),
        (" 2031-01-01T00:00:00Z", "refuse", "leading-space"),
        ("2031-01-01T00:00:00Z ", "refuse", "trailing-space"),
        ("2031-01-01T00:00:00.5Z", "refuse", "fraction"),
        ("2031-01-01T00:00:00+00:00", "refuse", "offset"),
        ("2031-02-30T00:00:00Z", "refuse", "february-30"),
        ("2031-01-01T24:00:00Z", "refuse", "hour-24"),
        ("\uff12\uff10\uff13\uff11-01-01T00:00:00Z", "refuse", "fullwidth-digits"),
        ("2031-01-01T00:00:00Z\n", "refuse", "trailing-newline"),
        ("2031-01-01T00:00:00", "refuse", "no-zone"),
    ):
        r = tuf_root()
        r["expires"] = text
        one(f, f"expires-{label}", judge, "refuse", "expires", r)

    # Numbers clients cannot hold, or read differently.
    for label, field, value, judge in (
        ("version-float", "version", 1.0, "refuse"),
        ("version-string", "version", "1", "refuse"),
        ("version-zero", "version", 0, "refuse"),
        ("version-negative", "version", -1, "refuse"),
        ("version-bool", "version", True, "refuse"),
        ("version-above-int64", "version", 2**63, "accept"),
        ("consistent-snapshot-string", "consistent_snapshot", "false", "accept"),
    ):
        r = tuf_root()
        r[field] = value
        one(f, label, judge, "refuse", field, r, raw=None)
    for label, value, judge in (("threshold-zero", 0, "refuse"), ("threshold-string", "1", "refuse"),
                                ("threshold-float", 1.0, "refuse"), ("threshold-negative", -1, "refuse"),
                                ("threshold-above-int64", 2**63, "refuse")):
        r = tuf_root()
        r["roles"]["root"]["threshold"] = value
        one(f, label, judge, "refuse", "threshold", r)

    # Weak keys: the identity point (a fixed signature then verifies for any message
    # under it), other small-order points, bytes off the curve, wrong lengths.
    small_order = {
        "identity": "01" + "00" * 31,
        "order-2": "ec" + "ff" * 30 + "7f",
        "order-4": "00" * 32,
        "order-8": "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    }
    for label, public in small_order.items():
        obj = tuf_obj(public)
        r = tuf_root()
        r["keys"][tuf_id(obj)] = obj
        r["roles"]["targets"]["keyids"] = [tuf_id(obj)]
        one(f, f"weak-key-small-order-{label}", "accept", "refuse", "small-order", r)
    identity = tuf_obj(small_order["identity"])
    r = tuf_root(root_keys=TUF_ROOT[:1])
    r["keys"][tuf_id(identity)] = identity
    r["roles"]["root"]["keyids"].append(tuf_id(identity))
    r["roles"]["root"]["threshold"] = 2

    def forged_identity_sig(env):
        # An all-zero-scalar signature that "verifies" under the identity point for
        # any message (R = identity, S = 0) in libraries that allow it.
        env["signatures"].append({"keyid": tuf_id(identity), "sig": "01" + "00" * 63})
    one(f, "weak-key-identity-counts-toward-threshold", "accept", "refuse", "small-order", r,
        post=forged_identity_sig)
    for label, public, judge in (("not-on-curve", "02" + "00" * 31, "accept"),
                                 ("short", "ab" * 31, "accept"), ("long", "ab" * 33, "accept"),
                                 ("not-hex", "zz" * 32, "accept"),
                                 ("uppercase-hex", TUF_ATTACKER.obj["keyval"]["public"].upper(), "accept")):
        obj = tuf_obj(public)
        r = tuf_root()
        r["keys"][tuf_id(obj)] = obj
        r["roles"]["targets"]["keyids"] = [tuf_id(obj)]
        ours = "accept" if label == "uppercase-hex" else "refuse"
        one(f, f"key-{label}", judge, ours, None if ours == "accept" else "key", r)

    # Duplicates: signature entries, key IDs, public keys under two IDs.
    one(f, "duplicate-signature-entries", "refuse", "refuse", "twice", tuf_root(),
        post=lambda env: env["signatures"].append(copy.deepcopy(env["signatures"][0])))
    r = tuf_root()
    r["roles"]["root"]["keyids"].append(TUF_ROOT[0].id)
    one(f, "duplicate-keyid-in-role", "refuse", "refuse", "twice", r)
    twin = copy.deepcopy(TUF_ROOT[0].obj)
    twin["x-twin"] = "same key, second ID"
    r = tuf_root()
    r["keys"][tuf_id(twin)] = twin
    r["roles"]["root"]["keyids"].append(tuf_id(twin))
    r["roles"]["root"]["threshold"] = 2

    def twin_sig(env):
        sig = copy.deepcopy(env["signatures"][0])
        sig["keyid"] = tuf_id(twin)
        env["signatures"].append(sig)
    one(f, "one-key-under-two-ids-meets-threshold-2", "accept", "refuse",
        "duplicate signature by the same key", r, post=twin_sig)
    one(f, "duplicate-json-key-in-signed", "refuse", "refuse", "duplicate key", tuf_root(),
        raw=lambda b: b.replace(b'"version": 1,', b'"version": 1,\n  "version": 2,', 1))
    one(f, "duplicate-json-key-in-role", "accept", "refuse", "duplicate key", tuf_root(),
        raw=lambda b: b.replace(b'"threshold": 1', b'"threshold": 1, "threshold": 1', 1))

    # _type and envelope shapes.
    for t, label in (("root ", "trailing-space"), ("ROOT", "upper"), ("Root\u0000", "nul")):
        r = tuf_root()
        r["_type"] = t
        one(f, f"type-{label}", "refuse", "refuse", "_type", r)
    one(f, "signatures-not-a-list", "refuse", "refuse", "signatures", tuf_root(),
        post=lambda env: env.__setitem__("signatures", {}))
    one(f, "signed-not-an-object", "refuse", "refuse", "_type", tuf_root(),
        post=lambda env: env.__setitem__("signed", []))
    one(f, "unknown-envelope-field-kept", "accept", "accept", None, tuf_root(),
        post=lambda env: env.__setitem__("x-note", "kept"))
    one(f, "signature-not-hex", "refuse", "refuse", "threshold", tuf_root(),
        post=lambda env: env["signatures"][0].__setitem__("sig", "zz" * 64))
    one(f, "signature-by-attacker-key-id", "refuse", "refuse", "threshold", tuf_root(),
        post=lambda env: env["signatures"][0].__setitem__("keyid", TUF_ATTACKER.id))
    # Key IDs as producers write them (TAP 12): any string, taken as given.
    # (A key ID that is not our hash of the key is issue-13 territory; here only
    # the forms that are the same bytes to every reader.)
    one(f, "escaped-field-name-is-the-same-name", "accept", "accept", None, tuf_root(),
        raw=lambda b: b.replace(b'"threshold"', b'"thr\\u0065shold"', 1))

    # Chains: a version that skips, a rollback.
    v1 = tuf_root(version=1)
    v2 = tuf_root(version=2)
    v2["expires"] = "2037-01-01T00:00:00Z"
    case(f, "chain-ok", "accept", "accept", None,
         [("1.root.json", dump(signed_by(v1, TUF_ROOT[:1]))),
          ("2.root.json", dump(signed_by(v2, TUF_ROOT[:1])))])
    v3 = tuf_root(version=3)
    case(f, "chain-skips-a-version", "refuse", "refuse", "expected version 2",
         [("1.root.json", dump(signed_by(v1, TUF_ROOT[:1]))),
          ("3.root.json", dump(signed_by(v3, TUF_ROOT[:1])))])
    # Clients fetch N.root.json by name: a file that holds another version is
    # never found under its own (python-tuf's updater refuses the version it got).
    case(f, "file-name-disagrees-with-version", "refuse", "refuse", "named for version 3",
         [("1.root.json", dump(signed_by(v1, TUF_ROOT[:1]))),
          ("3.root.json", dump(signed_by(v2, TUF_ROOT[:1])))])
    v2x = tuf_root(version=2, root_keys=[TUF_ATTACKER])
    case(f, "chain-new-root-not-signed-by-old-keys", "refuse", "refuse", "version 1",
         [("1.root.json", dump(signed_by(v1, TUF_ROOT[:1]))),
          ("2.root.json", dump(signed_by(v2x, [TUF_ATTACKER])))])
    old = tuf_root()
    old["expires"] = "2020-01-01T00:00:00Z"
    one(f, "expired", "refuse", "refuse", "expired", old)


def notary_cases():
    f = "notary"
    one(f, "baseline", "accept", "accept", None, notary_root())
    one(f, "baseline-2-of-2", "accept", "accept", None, notary_root(root_keys=N_ROOT, threshold=2),
        signers=N_ROOT)
    r = notary_root()
    r["expires"] = "2036-01-01T00:00:00.123456789-08:00"
    one(f, "expires-as-go-writes-it-nanoseconds-offset", "accept", "accept", None, r)

    # The headline: "Keys"/"Roles" after the real pair name the attacker's keys.
    attacker_keys = {N_ATTACKER.id: N_ATTACKER.obj, N_ATTACKER_ONLINE.id: N_ATTACKER_ONLINE.obj}
    attacker_roles = {"root": {"keyids": [N_ATTACKER.id], "threshold": 1}}
    for role in ("targets", "snapshot", "timestamp"):
        attacker_roles[role] = {"keyids": [N_ATTACKER_ONLINE.id], "threshold": 1}
    r = notary_root()
    r["Keys"] = copy.deepcopy(attacker_keys)
    r["Roles"] = copy.deepcopy(attacker_roles)
    one(f, "key-substitution-keys-roles-shadowed", "accept", "refuse", "Go", r,
        signers=[N_ROOT[0], N_ATTACKER])
    # Alone, a shadow "keys" keeps every key ID but puts the attacker's key under the
    # targets key's ID (Notary checks key IDs of signing keys only); a shadow
    # "roles" hands the online roles to the root key.
    swapped_keys = copy.deepcopy(notary_root()["keys"])
    swapped_keys[N_ONLINE["targets"].id] = copy.deepcopy(N_ATTACKER_ONLINE.obj)
    handed_roles = copy.deepcopy(notary_root()["roles"])
    for role in ("targets", "snapshot", "timestamp"):
        handed_roles[role]["keyids"] = [N_ROOT[0].id]
    values = {
        "_type": "Root", "version": 99, "expires": "2099-01-01T00:00:00Z",
        "consistent_snapshot": True, "keys": swapped_keys, "roles": handed_roles,
    }
    for field, value in values.items():
        for v in variants(field):
            r = notary_root()
            shadow(r, v, copy.deepcopy(value))
            # The judge accepts whatever it reads and can validate; the case's point
            # is that it reads the shadow, not the field we would show.
            one(f, f"shadow-signed-{ascii_name(v)}", "accept", "refuse", "Go", r,
                signers=[N_ROOT[0], N_ATTACKER])
    r = notary_root()
    shadow(r["roles"]["root"], "Threshold", 2)
    r2 = notary_root(root_keys=N_ROOT, threshold=2)
    shadow(r2["roles"]["root"], "Threshold", 1)
    one(f, "shadow-threshold-room-sees-2-client-enforces-1", "accept", "refuse", "Go", r2,
        signers=N_ROOT[:1], post=None)
    for field, value in {"keyids": [N_ONLINE["snapshot"].id], "threshold": 1}.items():
        for v in variants(field):
            # The room sees targets signed by the targets key (or root 2-of-2); the
            # client reads the snapshot key (or 1-of-2).
            r = notary_root(root_keys=N_ROOT, threshold=2)
            role = "targets" if field == "keyids" else "root"
            shadow(r["roles"][role], v, copy.deepcopy(value))
            one(f, f"shadow-role-{ascii_name(v)}", "accept", "refuse", "Go", r,
                signers=N_ROOT if field == "keyids" else N_ROOT[:1])
    for field, value in {"keytype": "ecdsa", "keyval": copy.deepcopy(N_ATTACKER.obj["keyval"])}.items():
        for v in variants(field):
            r = notary_root()
            shadow(r["keys"][N_ROOT[0].id], v, copy.deepcopy(value))
            one(f, f"shadow-key-{ascii_name(v)}", "keyval" in field and "refuse" or "accept",
                "refuse", "Go", r)
    for v in variants("public"):
        r = notary_root()
        shadow(r["keys"][N_ROOT[0].id]["keyval"], v, N_ATTACKER.obj["keyval"]["public"])
        one(f, f"shadow-keyval-{ascii_name(v)}", "refuse", "refuse", "Go", r)
    for field in ("keyid", "method", "sig"):
        for v in variants(field):
            def post(env, v=v, field=field):
                s = env["signatures"][0]
                s[v] = {"keyid": N_ATTACKER.id, "method": "eddsa", "sig": base64.b64encode(b"\0" * 64).decode()}[field]
            one(f, f"shadow-signature-{ascii_name(v)}", "refuse", "refuse", "Go", notary_root(), post=post)
    for field in ("signed", "signatures"):
        for v in variants(field):
            def post(env, v=v, field=field):
                env[v] = None
            one(f, f"shadow-envelope-{ascii_name(v)}", "refuse", "refuse", "Go", notary_root(), post=post)

    # Notary metadata has an exact field set: nothing else at any level.
    r = notary_root()
    r["x-note"] = "unknown"
    one(f, "unknown-field-in-signed", "accept", "refuse", "unknown field", r)
    r = notary_root()
    r["spec_version"] = "1.0.31"
    one(f, "tuf-spec-version-in-notary-root", "accept", "refuse", "unknown field", r)
    r = notary_root()
    r["keys"][N_ROOT[0].id]["scheme"] = "ecdsa-sha2-nistp256"
    one(f, "unknown-field-in-key", "accept", "refuse", "unknown field", r)
    r = notary_root()
    r["roles"]["root"]["paths"] = ["*"]
    one(f, "unknown-field-in-role", "accept", "refuse", "unknown field", r)
    one(f, "unknown-field-in-signature", "accept", "refuse", "unknown field", notary_root(),
        post=lambda env: env["signatures"][0].__setitem__("x-note", "unknown"))
    one(f, "unknown-envelope-field", "accept", "refuse", "unknown field", notary_root(),
        post=lambda env: env.__setitem__("x-note", "unknown"))

    # Roles: exactly the four.
    for extra, label in (("Root", "Root"), ("root ", "root-trailing-space"),
                         ("targets/releases", "targets-releases"), ("mirror", "mirror")):
        r = notary_root()
        r["roles"][extra] = copy.deepcopy(r["roles"]["root"])
        one(f, f"extra-role-{label}", "accept", "refuse", "role", r)

    # Certificates: the PEM text Go writes, one CN, a leaf for this GUN, in date.
    def pem_variant(transform):
        return lambda cert: transform(cert.public_bytes(serialization.Encoding.PEM).decode())
    pem_tricks = {
        "pem-crlf": lambda p: p.replace("\n", "\r\n"),
        "pem-no-final-newline": lambda p: p.rstrip("\n"),
        "pem-preamble": lambda p: "issued by the online machine\n" + p,
        "pem-trailing-text": lambda p: p + "trailing text\n",
        "pem-76-columns": lambda p: "-----BEGIN CERTIFICATE-----\n" + "\n".join(
            (lambda b: [b[i:i + 76] for i in range(0, len(b), 76)])(
                "".join(p.strip().splitlines()[1:-1]))) + "\n-----END CERTIFICATE-----\n",
        "pem-two-blocks": lambda p: p + p,
    }
    for label, tr in pem_tricks.items():
        k = NotaryRootKey("notary root a", pem_text=pem_variant(tr))
        judge = "refuse"
        one(f, f"cert-{label}", judge, "refuse", "PEM", notary_root(root_keys=[k]), signers=[k])
    for label, names, judge, err in (
        ("two-cns-gun-first", (GUN, "attacker.example/app"), "refuse", "common name"),
        ("two-cns-gun-last", ("attacker.example/app", GUN), "accept", "common name"),
        ("wildcard-cn", ("example.com/*",), "accept", "CN"),
        ("other-gun", ("example.com/other",), "refuse", "CN"),
        ("cn-trailing-space", (GUN + " ",), "refuse", "CN"),
    ):
        k = NotaryRootKey("notary root a", names=names)
        one(f, f"cert-{label}", judge, "refuse", err, notary_root(root_keys=[k]), signers=[k])
    k = NotaryRootKey("notary root a", ca=True)
    one(f, "cert-ca", "refuse", "refuse", "CA", notary_root(root_keys=[k]), signers=[k])
    k = NotaryRootKey("notary root a", not_before=utc(2020), not_after=utc(2026, 1, 1))
    one(f, "cert-expired", "refuse", "refuse", "expired", notary_root(root_keys=[k]), signers=[k])
    k = NotaryRootKey("notary root a", not_before=utc(2040), not_after=utc(2046))
    one(f, "cert-not-yet-valid", "refuse", "refuse", "not valid until", notary_root(root_keys=[k]),
        signers=[k])

    # expires: what Go's time.Time writes, and nothing it would write differently.
    for text, judge, label in (
        ("+2031-01-01T00:00:00Z", "refuse", "plus-sign-year"),
        ("+10000-01-01T00:00:00Z", "refuse", "five-digit-year"),
        ("2031-01-01T00:00:60Z", "refuse", "second-60"),
        ("2031-1-01T00:00:00Z", "refuse", "unpadded-month"),
        ("2031-01-01t00:00:00z", "refuse", "lowercase-t-z"),
        ("2031-01-01 00:00:00Z", "refuse", "space-for-t"),
        ("2031-01-01T00:00:00.500Z", "accept", "fraction-trailing-zeros"),
        ("2031-01-01T00:00:00+00:00", "accept", "zero-offset-not-z"),
        ("2031-01-01T00:00:00.1234567891Z", "accept", "ten-fraction-digits"),
        ("2031-02-30T00:00:00Z", "refuse", "february-30"),
    ):
        r = notary_root()
        r["expires"] = text
        one(f, f"expires-{label}", judge, "refuse", "expires", r)

    # Numbers: Notary verifies over a re-encoding that holds numbers as float64.
    for label, path, value, judge in (
        ("version-above-2-53", ("version",), 2**53 + 1, "refuse"),
        ("version-float", ("version",), 1.0, "refuse"),
        ("threshold-string", ("roles", "root", "threshold"), "1", "refuse"),
        ("threshold-zero", ("roles", "root", "threshold"), 0, "refuse"),
    ):
        r = notary_root()
        d = r
        for p in path[:-1]:
            d = d[p]
        d[path[-1]] = value
        one(f, label, judge, "refuse", path[-1], r)

    # Duplicates.
    one(f, "duplicate-signature-entries", "accept", "refuse", "twice", notary_root(),
        post=lambda env: env["signatures"].append(copy.deepcopy(env["signatures"][0])))
    twin = NotaryRootKey("notary root a", pem_text=None)
    twin_other_cert = NotaryRootKey("notary root a twin", pem_text=None)
    twin_other_cert.private = N_ROOT[0].private
    cert = certificate(N_ROOT[0].private, [GUN], utc(2025), utc(2046), serial=8)
    twin_other_cert.pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    twin_other_cert.obj = {"keytype": "ecdsa-x509", "keyval": {
        "private": None, "public": base64.b64encode(twin_other_cert.pem.encode()).decode()}}
    twin_other_cert.id = hashlib.sha256(canonical(twin_other_cert.obj)).hexdigest()
    one(f, "one-key-two-certificates-meets-threshold-2", "accept", "refuse", "same public key",
        notary_root(root_keys=[twin, twin_other_cert], threshold=2), signers=[twin, twin_other_cert])

    # Chains: the client validates every root it walks through.
    expired = NotaryRootKey("notary root b", not_before=utc(2020), not_after=utc(2026, 1, 1))
    v1 = notary_root(version=1, root_keys=N_ROOT[:1])
    v2 = notary_root(version=2, root_keys=[expired])
    v3 = notary_root(version=3, root_keys=N_ROOT[1:])
    case(f, "chain-intermediate-root-certificate-expired", "refuse", "refuse", "expired",
         [("1.root.json", dump(signed_by(v1, N_ROOT[:1]))),
          ("2.root.json", dump(signed_by(v2, [N_ROOT[0], expired]))),
          ("3.root.json", dump(signed_by(v3, [expired, N_ROOT[1]])))])
    v2 = notary_root(version=2, root_keys=N_ROOT[1:])
    case(f, "chain-ok", "accept", "accept", None,
         [("1.root.json", dump(signed_by(v1, N_ROOT[:1]))),
          ("2.root.json", dump(signed_by(v2, N_ROOT)))])
    case(f, "chain-new-root-not-signed-by-old-keys", "refuse", "refuse", "version 1",
         [("1.root.json", dump(signed_by(v1, N_ROOT[:1]))),
          ("2.root.json", dump(signed_by(v2, N_ROOT[1:])))])


def main():
    for flavour in ("tuf", "notary"):
        shutil.rmtree(os.path.join(HERE, flavour), ignore_errors=True)
    tuf_cases()
    notary_cases()
    names = set()
    rows = ["# flavour\tcase\tjudge\tours\tour error contains"]
    for flavour, name, judge, ours, error, files in CASES:
        assert (flavour, name) not in names, name
        names.add((flavour, name))
        d = os.path.join(HERE, flavour, name)
        os.makedirs(d)
        for file, data in files:
            with open(os.path.join(d, file), "wb") as fh:
                fh.write(data)
        rows.append(f"{flavour}\t{name}\t{judge}\t{ours}\t{error or ''}")
    with open(os.path.join(HERE, "cases.tsv"), "w") as fh:
        fh.write("\n".join(rows) + "\n")
    print(f"{len(CASES)} cases")


if __name__ == "__main__":
    main()
