"""Independent judge for offline targets metadata.

Usage: tuf_verify_targets.py ROOT TARGETS ROLE KEYID [KEYID ...]

python-tuf must accept TARGETS as signed by ROOT's targets role, and TARGETS must
delegate ROLE to exactly the given key IDs. Prints OK or the reason; exits 0 or 1.
"""

import sys

from tuf.api.metadata import Metadata, Root, Targets


def main(root_path: str, targets_path: str, role: str, keyids: list[str]) -> int:
    try:
        root = Metadata[Root].from_file(root_path)
        targets = Metadata[Targets].from_file(targets_path)
        root.verify_delegate(Targets.type, targets)
        delegations = targets.signed.delegations
        if delegations is None or delegations.roles is None or role not in delegations.roles:
            raise ValueError(f"no delegated role {role}")
        listed = sorted(delegations.roles[role].keyids)
        if listed != sorted(keyids):
            raise ValueError(f"role {role} lists {listed}, expected {sorted(keyids)}")
        for keyid in keyids:
            delegations.keys[keyid]
    except Exception as e:  # noqa: BLE001 - report any refusal
        print(f"REFUSED: {type(e).__name__}: {e}")
        return 1
    print(f"OK: targets version {targets.signed.version}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]))
