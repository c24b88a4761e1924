"""Independent judge for a batch export: for every repository of the request
bundle, python-tuf must accept its current root followed by the new root the
ceremony exported (the new one meets the threshold of the current root's keys and
its own), and the new root must no longer list the compromised targets key. With
--refresh (a refresh-expiry batch), the new root must instead keep the current
root's keys and roles exactly and expire later.

The export keeps the new roots in roots.pack, each where its line of roots.jsonl
says (offset, size, SHA-256).

Usage: tuf_verify_batch.py REQUEST EXPORT [--refresh]
       tuf_verify_batch.py REQUEST --exports FILE   (one export directory per line)
Prints "OK: N repositories" (per export) or the first refusal, exit 0 or 1.
"""

import hashlib
import json
import os
import sys

from tuf.api.metadata import Metadata, Root


def packed_roots(export: str) -> list:
    """The new roots of a batch export, cut from roots.pack where roots.jsonl says."""
    with open(os.path.join(export, "roots.pack"), "rb") as f:
        pack = f.read()
    out = []
    with open(os.path.join(export, "roots.jsonl")) as f:
        for i, line in enumerate(f):
            entry = json.loads(line)
            if entry["index"] != i:
                raise ValueError(f"roots.jsonl line {i + 1} is for index {entry['index']}")
            data = pack[entry["offset"] : entry["offset"] + entry["size"]]
            if hashlib.sha256(data).hexdigest() != entry["sha256"]:
                raise ValueError(f"{entry['repository']}: SHA-256 differs from roots.jsonl")
            out.append((entry, data))
    return out


def request_file(request: str, repo: dict, name: str) -> bytes:
    """A file of one repository of the request: a part of a pack, or a file."""
    part = repo.get("packed", {}).get(name)
    if part is None:
        with open(os.path.join(request, name), "rb") as f:
            return f.read()
    with open(os.path.join(request, part["file"]), "rb") as f:
        f.seek(part["offset"])
        data = f.read(part["size"])
    if hashlib.sha256(data).hexdigest() != part["sha256"]:
        raise ValueError(f"{name}: SHA-256 differs from request.json")
    return data


def main(request: str, export: str, refresh: bool = False) -> int:
    with open(os.path.join(request, "request.json")) as f:
        req = json.load(f)
    packed = packed_roots(export)
    if len(packed) != len(req["repositories"]):
        print(f"REFUSED: {len(packed)} roots for {len(req['repositories'])} repositories")
        return 1
    for (entry, data), repo in zip(packed, req["repositories"]):
        try:
            if entry["repository"] != repo["repository"]:
                raise ValueError(f"roots.jsonl names {entry['repository']}")
            trusted = Metadata[Root].from_bytes(request_file(request, repo, repo["current"][-1]))
            version = trusted.signed.version + 1
            new = Metadata[Root].from_bytes(data)
            if new.signed.version != version or entry["version"] != version:
                raise ValueError(f"the new root is not version {version}")
            trusted.verify_delegate(Root.type, new)
            new.verify_delegate(Root.type, new)
            if new.signed.is_expired():
                raise ValueError("the new root has expired")
            if refresh:
                old, now = trusted.signed.to_dict(), new.signed.to_dict()
                for field in ("keys", "roles", "consistent_snapshot", "spec_version"):
                    if old.get(field) != now.get(field):
                        raise ValueError(f"{field} changed in a refresh")
                if not new.signed.expires > trusted.signed.expires:
                    raise ValueError("the new root does not expire later")
                continue
            for revoked in repo["revoke"]:
                if any(k.startswith(revoked) for k in new.signed.roles["targets"].keyids):
                    raise ValueError(f"the compromised key {revoked[:8]} is still listed")
        except Exception as e:  # noqa: BLE001 - report any refusal
            print(f"REFUSED {repo['repository']}: {type(e).__name__}: {e}")
            return 1
    print(f"OK: {len(req['repositories'])} repositories")
    return 0


if __name__ == "__main__":
    if sys.argv[2] == "--exports":
        with open(sys.argv[3]) as f:
            exports = [line.strip() for line in f if line.strip()]
        for export in exports:
            if main(sys.argv[1], export) != 0:
                print(f"in {export}")
                sys.exit(1)
        print(f"OK: {len(exports)} exports")
        sys.exit(0)
    sys.exit(main(sys.argv[1], sys.argv[2], sys.argv[3:] == ["--refresh"]))
