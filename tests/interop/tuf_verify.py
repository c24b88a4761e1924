"""Independent judge: does python-tuf accept this root, or this chain of roots?

Usage: tuf_verify.py ROOT [ROOT ...]
       tuf_verify.py --chains FILE   (one chain per line, its roots separated
                                      by spaces; prints one verdict per line)

The first root must meet its own root threshold; each following root must be
version N+1 and meet the threshold of the previous root AND its own, as
python-tuf's updater requires (TUF spec 5.3.4). Prints OK or the reason and
exits 0 or 1.
"""

import sys

from tuf.api.metadata import Metadata, Root


def main(paths: list[str]) -> int:
    try:
        trusted = Metadata[Root].from_file(paths[0])
        trusted.verify_delegate(Root.type, trusted)
        for path in paths[1:]:
            new = Metadata[Root].from_file(path)
            if new.signed.version != trusted.signed.version + 1:
                raise ValueError(
                    f"{path}: version {new.signed.version}, expected {trusted.signed.version + 1}"
                )
            trusted.verify_delegate(Root.type, new)
            new.verify_delegate(Root.type, new)
            trusted = new
        if trusted.signed.is_expired():
            raise ValueError("the newest root has expired")
    except Exception as e:  # noqa: BLE001 - report any refusal
        print(f"REFUSED: {type(e).__name__}: {e}")
        return 1
    print(f"OK: version {trusted.signed.version}")
    return 0


def chains(file: str) -> int:
    worst = 0
    with open(file, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                print(line.strip(), end=": ")
                worst = max(worst, main(line.split()))
    return worst


if __name__ == "__main__":
    if sys.argv[1:2] == ["--chains"]:
        sys.exit(chains(sys.argv[2]))
    sys.exit(main(sys.argv[1:]))
