"""Independent judge for a batch export: for every repository of the request
bundle, python-tuf must accept its current root followed by the new root the
ceremony exported (the new one meets the threshold of the current root's keys and
its own), and the new root must no longer list the compromised targets key.

Usage: tuf_verify_batch.py REQUEST EXPORT
Prints "OK: N repositories" or the first refusal, exit 0 or 1.
"""

import json
import os
import sys

from tuf.api.metadata import Metadata, Root


def main(request: str, export: str) -> int:
    with open(os.path.join(request, "request.json")) as f:
        req = json.load(f)
    for i, repo in enumerate(req["repositories"]):
        try:
            trusted = Metadata[Root].from_file(os.path.join(request, repo["current"][-1]))
            version = trusted.signed.version + 1
            new = Metadata[Root].from_file(
                os.path.join(export, "repositories", str(i), f"{version}.root.json")
            )
            trusted.verify_delegate(Root.type, new)
            new.verify_delegate(Root.type, new)
            if new.signed.is_expired():
                raise ValueError("the new root has expired")
            for revoked in repo["revoke"]:
                if any(k.startswith(revoked) for k in new.signed.roles["targets"].keyids):
                    raise ValueError(f"the compromised key {revoked[:8]} is still listed")
        except Exception as e:  # noqa: BLE001 - report any refusal
            print(f"REFUSED {repo['repository']}: {type(e).__name__}: {e}")
            return 1
    print(f"OK: {len(req['repositories'])} repositories")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
