"""Independent judge for the parser-differential corpus: what python-tuf reads.

Usage: tuf_judge.py CASE_DIR[=TIME] [CASE_DIR[=TIME] ...]

Each CASE_DIR holds a chain N.root.json (version order), or a lone root.json.
The first is trusted on first use (it must meet its own threshold); each later
one must be the next version and meet the previous root's threshold and its own,
as python-tuf's updater requires; the newest must not have expired at TIME
(YYYY-MM-DDTHH:MM:SSZ; now if not given: historical roots are judged at a time
before they expired). Prints one JSON line per
case: {"case", "accepted", "error", "view"}, where view is the newest root as
python-tuf holds it (after its own parsing and re-serialisation).
"""

import json
import os
import re
import sys
from datetime import datetime, timezone

from securesystemslib.exceptions import UnverifiedSignatureError
from securesystemslib.signer import KEY_FOR_TYPE_AND_SCHEME, Key
from tuf.api.metadata import Metadata, Root


class OfflineSigstoreKey(Key):
    """Sigstore's keyless keys ("sigstore-oidc"/"Fulcio"), which tuf-on-ci
    clients register with securesystemslib (it leaves them out by default).
    Verifying one needs Sigstore's online trust material, which an offline judge,
    like ceremony, does not have: the key is read and kept, and a signature by it
    counts as none."""

    @classmethod
    def from_dict(cls, keyid, key_dict):
        keytype = key_dict.pop("keytype")
        scheme = key_dict.pop("scheme")
        keyval = key_dict.pop("keyval")
        return cls(keyid, keytype, scheme, keyval, key_dict)

    def to_dict(self):
        return {"keytype": self.keytype, "scheme": self.scheme, "keyval": self.keyval,
                **self.unrecognized_fields}

    def verify_signature(self, signature, data):
        raise UnverifiedSignatureError("a Sigstore signature cannot be checked offline")


KEY_FOR_TYPE_AND_SCHEME[("sigstore-oidc", "Fulcio")] = OfflineSigstoreKey


def view(md: Metadata, valid: set[str]) -> dict:
    root = md.signed
    return {
        "version": root.version,
        "expires": root.expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "spec_version": root.spec_version,
        "consistent_snapshot": root.consistent_snapshot,
        "keys": {
            keyid: {"keytype": k.keytype, "scheme": k.scheme, "public": k.keyval.get("public")}
            for keyid, k in root.keys.items()
        },
        "roles": {
            name: {"keyids": list(r.keyids), "threshold": r.threshold}
            for name, r in root.roles.items()
        },
        "valid": sorted(valid),
    }


def judge(case_dir: str, at: datetime | None) -> dict:
    files = sorted(
        (f for f in os.listdir(case_dir) if re.fullmatch(r"\d+\.root\.json", f)),
        key=lambda f: int(f.split(".")[0]),
    )
    if not files and os.path.exists(os.path.join(case_dir, "root.json")):
        files = ["root.json"]
    # A client ships with a trusted root and walks on from it: where the first
    # versions of a history cannot be read, or do not meet their own threshold for
    # python-tuf, start at the first that does (the earliest root a python-tuf
    # client could have been shipped with), and say which.
    start = None
    for name in files:
        try:
            with open(os.path.join(case_dir, name), "rb") as fh:
                first = Metadata[Root].from_bytes(fh.read())
            first.verify_delegate(Root.type, first)
            start = name
            break
        except Exception:  # noqa: BLE001 - an unusable leading version
            continue
    if start is not None:
        files = files[files.index(start):]
    try:
        trusted = None
        valid: set[str] = set()
        for name in files:
            with open(os.path.join(case_dir, name), "rb") as fh:
                new = Metadata[Root].from_bytes(fh.read())
            # The updater fetches N.root.json by name and refuses another version.
            if name != "root.json" and new.signed.version != int(name.split(".")[0]):
                raise ValueError(f"{name} holds version {new.signed.version}")
            if trusted is not None:
                if new.signed.version != trusted.signed.version + 1:
                    raise ValueError(
                        f"version {new.signed.version}, expected {trusted.signed.version + 1}"
                    )
                trusted.verify_delegate(Root.type, new)
            new.verify_delegate(Root.type, new)
            result = new.signed.get_verification_result(
                Root.type, new.signed_bytes, new.signatures
            )
            valid = set(result.signed)
            trusted = new
        if trusted.signed.is_expired(at):
            raise ValueError("the newest root has expired")
        return {"accepted": True, "error": None, "view": view(trusted, valid), "start": start}
    except Exception as e:  # noqa: BLE001 - any refusal is a verdict
        return {"accepted": False, "error": f"{type(e).__name__}: {e}", "view": None, "start": start}


def main(dirs: list[str]) -> int:
    for arg in dirs:
        d, _, when = arg.partition("=")
        at = datetime.strptime(when, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc) if when else None
        out = judge(d, at)
        out["case"] = os.path.basename(os.path.normpath(d))
        print(json.dumps(out, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
