"""Make the hostile-input catalogue: inputs crafted to break `ceremony`, one case per
directory, each named by the failure it proves.

Usage: make.py            (from anywhere; rewrites the catalogue beside this file)

Layout: `<family>/<failure>/<variant>/case.json`, plus the case's own input files.
The test driver (tests/hostile.rs) copies a case's directory into a fresh workspace,
builds what cannot live in git (FIFOs, symlinks, sparse giant files, a rehearsal
bundle made on the spot), runs `ceremony` there with the case's arguments and no
terminal, and checks:

- the exit code (`exit`), never a panic, and an end within a time bound;
- a short error that names the object (`names`: each must appear in stderr);
- the workspace byte for byte as it was (nothing written, nothing left behind,
  no temporary file), except the paths a successful case lists in `writes`;
- none of `secrets` in any output.

case.json fields:
  args     the command line after `ceremony`; paths are relative to the workspace
  exit     the exit code: 0 done, 1 refused, 2 device or unreadable
  names    strings the error must contain (the file, key, date or reference at fault)
  secrets  strings that must never be shown (PINs, passphrases)
  copy     [[from, to]]: files or directories of tests/data copied in (real roots
           stay byte-identical to their public source, see tests/data/real-roots)
  setup    operations done in order after copying, before the run (see tests/hostile.rs)
  writes   paths a successful run may create
  note     why this case exists

Real roots come from tests/data/real-roots (their sources are in its SOURCES.tsv);
the mutations here are ours. Re-running this script gives the same files.
"""

import base64
import copy
import json
import os
import shutil
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.dirname(HERE)
REAL = os.path.join(DATA, "real-roots")

# Every base is valid at AT (the Notary root's certificate expired in 2026-07).
AT = "2026-01-01"
HUGE = 3 * 1024 * 1024 * 1024  # a sparse 3 GiB file: no reader should take it in whole

BASES = {
    # name: (path under real-roots, extra verify args)
    "go-tuf-ed25519": ("go-tuf/rust-tuf-interop-fuchsia-go-tuf-5527fe-cs-true/1.root.json", []),
    "python-tuf-ed25519": ("python-tuf/generated-ed25519/1.root.json", []),
    "sigstore-ecdsa": ("sigstore/root-signing-staging/5.root.json", []),
    "tough-rsa": ("tough/simple-rsa/1.root.json", []),
    "notary-x509": (
        "notary/compat-notary0.3-docker-com-tst/1.root.json",
        ["--gun", "docker.com/notary0.3/tst"],
    ),
}

cases = []


def case(family, failure, variant, args, exit=1, names=(), secrets=(), files=None,
         copy_in=(), setup=(), writes=(), note=""):
    cases.append(dict(
        family=family, failure=failure, variant=variant, args=list(args), exit=exit,
        names=list(names), secrets=list(secrets), files=files or {},
        copy=[list(c) for c in copy_in], setup=list(setup), writes=list(writes), note=note,
    ))


def load(path):
    with open(path, "rb") as f:
        return f.read()


def dumps(doc):
    return (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode()


# ------------------------------------------------------------ root mutations
def first_root_keyid(doc):
    return doc["signed"]["roles"]["root"]["keyids"][0]


def mutate(name, doc, raw):
    """Return the mutated file bytes (or None: not applicable to this base)."""
    d = copy.deepcopy(doc)
    s = d["signed"]
    if name == "truncated-half":
        return raw[: len(raw) // 2]
    if name == "truncated-last-byte":
        return raw.rstrip()[:-1]
    if name == "empty-file":
        return b""
    if name == "only-whitespace":
        return b" \n\t\n"
    if name == "every-signature-flipped":
        for sig in d["signatures"]:
            v = sig["sig"]
            i = len(v) // 2
            sig["sig"] = v[:i] + ("1" if v[i] != "1" else "2") + v[i + 1:]
        return dumps(d)
    if name == "signatures-removed":
        d["signatures"] = []
        return dumps(d)
    if name == "signature-duplicated-below-threshold":
        d["signatures"] = [d["signatures"][0]] * 5
        return dumps(d)
    if name == "version-bumped-after-signing":
        s["version"] = s["version"] + 1
        return dumps(d)
    if name == "expiry-extended-after-signing":
        s["expires"] = "2099-01-01T00:00:00Z"
        return dumps(d)
    if name == "root-key-substituted":
        kid = first_root_keyid(d)
        other = next(k for k in s["keys"] if k != kid)
        s["keys"][kid] = copy.deepcopy(s["keys"][other])
        return dumps(d)
    if name == "invalid-utf8-in-string":
        return raw.replace(b'"expires"', b'"expi\xffres"', 1)
    if name == "utf8-bom":
        return b"\xef\xbb\xbf" + raw
    if name == "raw-nul-byte":
        return raw.replace(b'"signed"', b'"sig\x00ned"', 1)
    if name == "escaped-nul-in-type":
        s["_type"] = s["_type"] + "\u0000"
        return dumps(d)
    if name == "trailing-garbage":
        return raw + b"x"
    if name == "two-documents":
        return raw + b"\n" + raw
    if name == "nesting-10000-deep":
        return raw.replace(b'"signed"', b'"x-deep": ' + b"[" * 10000 + b"]" * 10000 + b', "signed"', 1)
    if name == "number-1e400":
        s["version"] = "@NUM@"
        return dumps(d).replace(b'"@NUM@"', b"1e400")
    if name == "integer-2-pow-64":
        s["version"] = 2 ** 64
        return dumps(d)
    if name == "integer-600-digits":
        s["version"] = "@NUM@"
        return dumps(d).replace(b'"@NUM@"', b"9" * 600)
    if name == "version-negative":
        s["version"] = -1
        return dumps(d)
    if name == "version-non-integer":
        s["version"] = 1.5
        return dumps(d)
    if name == "version-string":
        s["version"] = str(s["version"])
        return dumps(d)
    if name == "version-zero":
        s["version"] = 0
        return dumps(d)
    if name == "threshold-zero":
        s["roles"]["root"]["threshold"] = 0
        return dumps(d)
    if name == "threshold-negative":
        s["roles"]["root"]["threshold"] = -1
        return dumps(d)
    if name == "threshold-non-integer":
        s["roles"]["root"]["threshold"] = 1.5
        return dumps(d)
    if name == "threshold-2-pow-64":
        s["roles"]["root"]["threshold"] = 2 ** 64
        return dumps(d)
    if name == "threshold-above-key-count":
        s["roles"]["root"]["threshold"] = len(s["roles"]["root"]["keyids"]) + 1
        return dumps(d)
    if name == "keyval-non-integer-number":
        s["keys"][first_root_keyid(d)]["keyval"]["x"] = 1.5
        return dumps(d)
    if name == "keyval-public-a-number":
        s["keys"][first_root_keyid(d)]["keyval"]["public"] = 12345
        return dumps(d)
    if name == "keyval-public-truncated":
        kv = s["keys"][first_root_keyid(d)]["keyval"]
        kv["public"] = kv["public"][: len(kv["public"]) // 2]
        return dumps(d)
    if name == "keytype-unknown":
        s["keys"][first_root_keyid(d)]["keytype"] = "dsa-1024"
        return dumps(d)
    if name == "keys-an-array":
        s["keys"] = list(s["keys"].values())
        return dumps(d)
    if name == "keys-missing":
        del s["keys"]
        return dumps(d)
    if name == "root-role-missing":
        del s["roles"]["root"]
        return dumps(d)
    if name == "role-names-unknown-keyid":
        s["roles"]["root"]["keyids"].append("00" * 32)
        return dumps(d)
    if name == "role-keyid-duplicated":
        ids = s["roles"]["root"]["keyids"]
        s["roles"]["root"]["keyids"] = ids + ids
        return dumps(d)
    if name == "duplicate-member-signed":
        inner = json.dumps(s).encode()
        return raw.replace(b'"signed"', b'"signed": ' + inner + b', "signed"', 1)
    if name == "type-targets":
        s["_type"] = "targets"
        return dumps(d)
    if name == "type-wrong-case":
        s["_type"] = "ROOT"
        return dumps(d)
    if name == "type-spelt-as-the-other-flavour":
        s["_type"] = "root" if s["_type"] == "Root" else "Root"
        return dumps(d)
    if name == "spec-version-2":
        if "spec_version" not in s:
            return None
        s["spec_version"] = "2.0.0"
        return dumps(d)
    if name == "expires-not-a-date":
        s["expires"] = "tomorrow"
        return dumps(d)
    if name == "expires-year-10000":
        s["expires"] = "+10000-01-01T00:00:00Z"
        return dumps(d)
    if name == "expires-a-number":
        s["expires"] = 2000000000
        return dumps(d)
    if name == "top-level-array":
        return b"[" + raw + b"]"
    if name == "top-level-null":
        return b"null"
    if name == "top-level-string":
        return b'"root"'
    if name == "signatures-an-object":
        d["signatures"] = {"sig": d["signatures"][0]}
        return dumps(d)
    if name == "signature-not-hex-or-base64":
        for sig in d["signatures"]:
            sig["sig"] = "zz!!" * 16
        return dumps(d)
    if name == "signed-missing":
        del d["signed"]
        return dumps(d)
    raise KeyError(name)


ROOT_MUTATIONS = [
    "truncated-half", "truncated-last-byte", "empty-file", "only-whitespace",
    "every-signature-flipped", "signatures-removed", "signature-duplicated-below-threshold",
    "version-bumped-after-signing", "expiry-extended-after-signing", "root-key-substituted",
    "invalid-utf8-in-string", "utf8-bom", "raw-nul-byte", "escaped-nul-in-type",
    "trailing-garbage", "two-documents", "nesting-10000-deep", "number-1e400",
    "integer-2-pow-64", "integer-600-digits", "version-negative", "version-non-integer",
    "version-string", "version-zero", "threshold-zero", "threshold-negative",
    "threshold-non-integer", "threshold-2-pow-64", "threshold-above-key-count",
    "keyval-non-integer-number", "keyval-public-a-number", "keyval-public-truncated",
    "keytype-unknown", "keys-an-array", "keys-missing", "root-role-missing",
    "role-names-unknown-keyid", "role-keyid-duplicated", "duplicate-member-signed",
    "type-targets", "type-wrong-case", "type-spelt-as-the-other-flavour", "spec-version-2", "expires-not-a-date",
    "expires-year-10000", "expires-a-number", "top-level-array", "top-level-null",
    "top-level-string", "signatures-an-object", "signature-not-hex-or-base64",
    "signed-missing",
]

# Where a mutation leaves a root that a careful verifier still accepts.
ROOT_ACCEPTED = {
    # Pretty-printing and member order are not signed: the canonical form is.
    "reordered-members": lambda d: dumps({"signatures": d["signatures"], "signed": d["signed"]}),
    "re-indented": lambda d: (json.dumps(d, indent=7) + "\n").encode(),
}

for base, (rel, extra) in BASES.items():
    raw = load(os.path.join(REAL, rel))
    doc = json.loads(raw)
    verify = ["verify", "--at", AT] + extra
    for m in ROOT_MUTATIONS:
        if m == "root-key-substituted" and len(doc["signed"]["keys"]) < 2:
            continue
        out = mutate(m, doc, raw)
        if out is None:
            continue
        case("roots", m, base, verify + ["1.root.json"], names=["1.root.json"],
             files={"1.root.json": out}, note=f"real root {rel}, mutated: {m}")
    for m, fn in ROOT_ACCEPTED.items():
        case("roots", m, base, verify + ["1.root.json"], exit=0,
             files={"1.root.json": fn(doc)},
             note=f"real root {rel}: {m} changes no signed byte, so it still verifies")
    # What no file reader may be given: each in place of the root file.
    for failure, op in [
        ("fifo-instead-of-file", {"fifo": "1.root.json"}),
        ("dangling-symlink", {"symlink": "1.root.json", "to": "gone.json"}),
        ("symlink-to-device", {"symlink": "1.root.json", "to": "/dev/zero"}),
        ("sparse-3-gib-file", {"sparse": "1.root.json", "size": HUGE}),
    ]:
        case("roots", failure, base, verify + ["1.root.json"], names=["1.root.json"],
             setup=[op], note="a root file that is not a regular file of sane size")

# `root inspect` reads the same files without verifying: the parse must refuse.
for base in ["sigstore-ecdsa", "notary-x509", "tough-rsa"]:
    rel = BASES[base][0]
    raw = load(os.path.join(REAL, rel))
    doc = json.loads(raw)
    for m in ["truncated-half", "invalid-utf8-in-string", "nesting-10000-deep",
              "keyval-non-integer-number", "integer-600-digits", "top-level-array",
              "two-documents", "keys-an-array", "version-non-integer", "expires-year-10000"]:
        case("inspect", m, base, ["root", "inspect", "1.root.json"], names=["1.root.json"],
             files={"1.root.json": mutate(m, doc, raw)}, note=f"real root {rel}, mutated: {m}")
    for failure, op in [
        ("fifo-instead-of-file", {"fifo": "1.root.json"}),
        ("symlink-to-device", {"symlink": "1.root.json", "to": "/dev/zero"}),
        ("sparse-3-gib-file", {"sparse": "1.root.json", "size": HUGE}),
    ]:
        case("inspect", failure, base, ["root", "inspect", "1.root.json"],
             names=["1.root.json"], setup=[op])

# ------------------------------------------------------------ chains
STAGING = "real-roots/sigstore/root-signing-staging"
CHAIN = ["verify", "--at", AT, "--trusted", "chain/1.root.json", "chain"]
case("chains", "baseline", "sigstore-staging", CHAIN, exit=0, copy_in=[[STAGING, "chain"]],
     note="the real chain as published verifies: the cases below differ from it by one thing")
for failure, setup, names in [
    ("version-missing-in-the-middle", [{"remove": "chain/4.root.json"}], ["4"]),
    ("file-holds-another-version",
     [{"remove": "chain/4.root.json"}, {"copy": "chain/3.root.json", "to": "chain/4.root.json"}],
     ["4.root.json"]),
    ("two-versions-swapped",
     [{"rename": "chain/4.root.json", "to": "chain/tmp"},
      {"rename": "chain/5.root.json", "to": "chain/4.root.json"},
      {"rename": "chain/tmp", "to": "chain/5.root.json"}], ["4.root.json"]),
    ("later-version-replayed-as-next",
     [{"copy": "chain/13.root.json", "to": "chain/15.root.json"}], ["15.root.json"]),
    ("fifo-in-the-middle", [{"remove": "chain/4.root.json"}, {"fifo": "chain/4.root.json"}],
     ["4.root.json"]),
    ("directory-in-the-middle",
     [{"remove": "chain/4.root.json"}, {"mkdir": "chain/4.root.json"}], ["4.root.json"]),
    ("dangling-symlink-in-the-middle",
     [{"remove": "chain/4.root.json"}, {"symlink": "chain/4.root.json", "to": "nowhere"}],
     ["4.root.json"]),
    ("device-in-the-middle",
     [{"remove": "chain/4.root.json"}, {"symlink": "chain/4.root.json", "to": "/dev/zero"}],
     ["4.root.json"]),
    ("sparse-3-gib-in-the-middle",
     [{"remove": "chain/4.root.json"}, {"sparse": "chain/4.root.json", "size": HUGE}],
     ["4.root.json"]),
    ("version-number-overflows",
     [{"copy": "chain/14.root.json", "to": "chain/99999999999999999999999.root.json"}],
     ["99999999999999999999999.root.json"]),
    ("trusted-is-a-fifo", [{"remove": "chain/1.root.json"}, {"fifo": "chain/1.root.json"}],
     ["1.root.json"]),
    ("trusted-is-missing", [{"remove": "chain/1.root.json"}], ["1.root.json"]),
    ("truncated-in-the-middle", [{"truncate": "chain/7.root.json", "to": 100}], ["7.root.json"]),
    ("signed-field-changed-in-the-middle",
     [{"set_string": "chain/7.root.json", "key": "expires", "to": "2099-01-01T00:00:00Z"}],
     ["7.root.json"]),
]:
    case("chains", failure, "sigstore-staging", CHAIN, names=names,
         copy_in=[[STAGING, "chain"]], setup=setup)
case("chains", "trusted-root-of-another-repository", "sigstore-staging",
     ["verify", "--at", AT, "--trusted", "other.json", "chain"], names=["other.json"],
     copy_in=[[STAGING, "chain"], ["real-roots/python-tuf/generated-ed25519/1.root.json", "other.json"]])
case("chains", "trusted-newer-than-the-chain", "sigstore-staging",
     ["verify", "--at", AT, "--trusted", "chain/14.root.json", "chain/2.root.json"],
     names=["2.root.json"], copy_in=[[STAGING, "chain"]])
case("chains", "root-of-another-repository-spliced-in", "sigstore-staging", CHAIN,
     names=["4.root.json"],
     copy_in=[[STAGING, "chain"],
              ["real-roots/python-tuf/generated-ed25519/1.root.json", "chain/4.root.json"]])
case("chains", "leading-zero-name", "sigstore-staging", CHAIN, names=["04.root.json"],
     copy_in=[[STAGING, "chain"]],
     setup=[{"rename": "chain/4.root.json", "to": "chain/04.root.json"}])
# `request --current` reads a chain on the online side: the same traps, and --out is
# never created on a refusal.
REQ = ["request", "--repository", "example.com/app", "--current", "chain", "--out", "request"]
for failure, setup, names in [
    ("fifo-in-the-middle", [{"remove": "chain/4.root.json"}, {"fifo": "chain/4.root.json"}],
     ["4.root.json"]),
    ("directory-in-the-middle",
     [{"remove": "chain/4.root.json"}, {"mkdir": "chain/4.root.json"}], ["4.root.json"]),
    ("device-in-the-middle",
     [{"remove": "chain/4.root.json"}, {"symlink": "chain/4.root.json", "to": "/dev/zero"}],
     ["4.root.json"]),
    ("truncated-in-the-middle", [{"truncate": "chain/7.root.json", "to": 100}], ["7.root.json"]),
    ("version-missing-in-the-middle", [{"remove": "chain/4.root.json"}], ["4.root.json"]),
    ("out-is-a-dangling-symlink", [{"symlink": "request", "to": "elsewhere"}], ["request"]),
    ("out-exists", [{"mkdir": "request"}], ["request"]),
    ("out-under-a-regular-file", [{"write": "file", "text": "x"}], ["file"]),
]:
    args = REQ if failure != "out-under-a-regular-file" else REQ[:-1] + ["file/request"]
    case("request", failure, "sigstore-staging", args, names=names,
         copy_in=[[STAGING, "chain"]], setup=setup)
raw = load(os.path.join(DATA, STAGING, "5.root.json"))
case("request", "keyval-non-integer-number", "sigstore-staging", REQ, names=["5.root.json"],
     copy_in=[[STAGING, "chain"]],
     files={"chain/5.root.json": mutate("keyval-non-integer-number", json.loads(raw), raw)})

# ------------------------------------------------------------ bundles
REHEARSAL = {"rehearsal": "rehearsal"}
B = "rehearsal/root-rotate"
BUNDLE_MUTATIONS = [
    # failure, setup, names
    ("manifest-is-a-fifo", [{"remove": f"{B}/manifest.json"}, {"fifo": f"{B}/manifest.json"}],
     ["manifest.json"]),
    ("manifest-is-a-directory",
     [{"remove": f"{B}/manifest.json"}, {"mkdir": f"{B}/manifest.json"}], ["manifest.json"]),
    ("manifest-missing", [{"remove": f"{B}/manifest.json"}], ["manifest.json"]),
    ("manifest-is-a-device",
     [{"remove": f"{B}/manifest.json"}, {"symlink": f"{B}/manifest.json", "to": "/dev/zero"}],
     ["manifest.json"]),
    ("manifest-sparse-3-gib",
     [{"remove": f"{B}/manifest.json"}, {"sparse": f"{B}/manifest.json", "size": HUGE}],
     ["manifest.json"]),
    ("manifest-truncated", [{"truncate": f"{B}/manifest.json", "to": 150}], ["manifest.json"]),
    ("manifest-invalid-utf8",
     [{"replace": f"{B}/manifest.json", "from": "root-rotate", "to_hex": "726f6f74ff"}],
     ["manifest.json"]),
    ("manifest-deeply-nested",
     [{"replace": f"{B}/manifest.json", "from": '"kind"',
       "to": '"x": ' + "[" * 10000 + "]" * 10000 + ', "kind"'}], ["manifest.json"]),
    ("manifest-unknown-field",
     [{"replace": f"{B}/manifest.json", "from": '"kind"', "to": '"kidn": 1, "kind"'}],
     ["manifest.json"]),
    ("manifest-size-not-integer",
     [{"set_number": f"{B}/manifest.json", "key": "size", "to": "1.5"}],
     ["manifest.json"]),
    ("manifest-size-negative",
     [{"set_number": f"{B}/manifest.json", "key": "size", "to": "-1"}],
     ["manifest.json"]),
    ("manifest-hash-not-hex",
     [{"set_string": f"{B}/manifest.json", "key": "sha256", "to": "zz"}], ["manifest.json"]),
    ("path-traversal",
     [{"replace": f"{B}/manifest.json", "from": '"path": "2.root.json"',
       "to": '"path": "../root-init/1.root.json"'}], ["../root-init/1.root.json"]),
    ("absolute-path",
     [{"replace": f"{B}/manifest.json", "from": '"path": "2.root.json"',
       "to": '"path": "/etc/hostname"'}], ["/etc/hostname"]),
    ("nul-in-path",
     [{"replace": f"{B}/manifest.json", "from": '"path": "2.root.json"',
       "to": '"path": "2.root.json\\u0000x"'}], ["manifest.json"]),
    ("a-path-and-a-path-under-it",
     [{"replace": f"{B}/manifest.json", "from": '"path": "root.json"',
       "to": '"path": "2.root.json/x"'}], ["2.root.json"]),
    ("entry-listed-twice",
     [{"replace": f"{B}/manifest.json", "from": '"path": "root.json"',
       "to": '"path": "2.root.json"'}], ["2.root.json"]),
    ("file-tampered", [{"flip": f"{B}/2.root.json", "at": 300}], ["2.root.json"]),
    ("file-truncated", [{"truncate": f"{B}/2.root.json", "to": 1000}], ["2.root.json"]),
    ("file-not-listed", [{"write": f"{B}/extra.txt", "text": "smuggled\n"}], ["extra.txt"]),
    ("listed-file-missing", [{"remove": f"{B}/transcript.md"}], ["transcript.md"]),
    ("file-is-a-fifo", [{"remove": f"{B}/2.root.json"}, {"fifo": f"{B}/2.root.json"}],
     ["2.root.json"]),
    ("file-is-a-symlink-outside",
     [{"remove": f"{B}/transcript.md"}, {"symlink": f"{B}/transcript.md", "to": "/etc/hostname"}],
     ["transcript.md"]),
    ("file-is-a-device",
     [{"remove": f"{B}/transcript.md"}, {"symlink": f"{B}/transcript.md", "to": "/dev/zero"}],
     ["transcript.md"]),
    ("hidden-file-smuggled", [{"write": f"{B}/.hidden", "text": "x"}], [".hidden"]),
    ("subdirectory-smuggled", [{"mkdir": f"{B}/sub"}, {"write": f"{B}/sub/x", "text": "x"}],
     ["sub"]),
]
for failure, setup, names in BUNDLE_MUTATIONS:
    setup = [REHEARSAL] + setup
    case("bundles", failure, "bundle-verify", ["bundle-verify", B], names=names, setup=setup)
    case("bundles", failure, "qr-encode", ["qr", "encode", B, "--out", "qr"], names=names,
         setup=setup)
    case("bundles", failure, "publish",
         ["publish", B, "--tuf-repo", "repo"], names=names,
         setup=setup + [{"mkdir": "repo"},
                        {"copy": "rehearsal/root-init/1.root.json", "to": "repo/1.root.json"},
                        {"copy": "rehearsal/root-init/1.root.json", "to": "repo/root.json"}])
# A bundle whose files all match its manifest, but whose root is hostile.
for m, op in [
    ("keyval-non-integer-number",
     {"replace": f"{B}/2.root.json", "from": '"keyval": {', "to": '"keyval": {"x": 1.5, '}),
    ("version-600-digits", {"set_number": f"{B}/2.root.json", "key": "version", "to": "9" * 600}),
    ("version-negative", {"set_number": f"{B}/2.root.json", "key": "version", "to": "-1"}),
    ("nesting-10000-deep",
     {"replace": f"{B}/2.root.json", "from": '"signed"',
      "to": '"x": ' + "[" * 10000 + "]" * 10000 + ', "signed"'}),
]:
    case("bundles", "rehashed-root-" + m, "publish",
         ["publish", B, "--tuf-repo", "repo"], names=["2.root.json"],
         setup=[REHEARSAL, op,
                {"rehash": f"{B}/2.root.json", "manifest": f"{B}/manifest.json"},
                {"mkdir": "repo"},
                {"copy": "rehearsal/root-init/1.root.json", "to": "repo/1.root.json"},
                {"copy": "rehearsal/root-init/1.root.json", "to": "repo/root.json"}])
# What the repository side may hold: publish must write all or nothing.
PUB = ["publish", B, "--tuf-repo", "repo"]
REPO = [REHEARSAL, {"mkdir": "repo"},
        {"copy": "rehearsal/root-init/1.root.json", "to": "repo/1.root.json"},
        {"copy": "rehearsal/root-init/1.root.json", "to": "repo/root.json"}]
for failure, extra, setup, names in [
    ("next-version-is-a-dangling-symlink", [], [{"symlink": "repo/2.root.json", "to": "x"}],
     ["2.root.json"]),
    ("next-version-is-a-directory", [], [{"mkdir": "repo/2.root.json"}], ["2.root.json"]),
    ("next-version-is-a-fifo", [], [{"fifo": "repo/2.root.json"}], ["2.root.json"]),
    ("next-version-already-there", [], [{"write": "repo/2.root.json", "text": "{}"}],
     ["2.root.json"]),
    ("repository-root-is-a-fifo", [], [{"remove": "repo/root.json"}, {"fifo": "repo/root.json"}],
     ["root.json"]),
    ("repository-root-tampered", [], [{"flip": "repo/root.json", "at": 400}], ["root.json"]),
    ("repository-root-truncated", [], [{"truncate": "repo/root.json", "to": 10}], ["root.json"]),
    ("repository-is-a-regular-file", [],
     [{"remove": "repo/root.json"}, {"remove": "repo/1.root.json"}, {"remove_dir": "repo"},
      {"write": "repo", "text": "x"}], ["repo"]),
    ("expect-bundle-mismatch", ["--expect-bundle", "00" * 32], [], ["bundle"]),
    ("expect-bundle-malformed", ["--expect-bundle", "not-a-hash"], [], ["not-a-hash"]),
]:
    case("publish", failure, "tuf", PUB + extra, names=names, setup=REPO + setup)
case("publish", "first-root-with-next-version-a-dangling-symlink", "tuf",
     ["publish", B, "--tuf-repo", "repo", "--first-root"], names=["2.root.json"],
     setup=[REHEARSAL, {"mkdir": "repo"}, {"symlink": "repo/2.root.json", "to": "x"}])
case("publish", "first-root-with-next-version-a-directory", "tuf",
     ["publish", B, "--tuf-repo", "repo", "--first-root"], names=["2.root.json"],
     setup=[REHEARSAL, {"mkdir": "repo"}, {"mkdir": "repo/2.root.json"}])

# ------------------------------------------------------------ transcripts
T = "rehearsal/root-rotate/transcript.jsonl"
# Readable but tampered: the report is still written (marked unverified) and the
# exit code says not to rely on it. Unreadable (the last five): nothing is written.
TRANSCRIPT_MUTATIONS = [
    ("truncated-mid-line", [{"truncate": T, "to": -40}], 1),
    ("seal-line-dropped", [{"lines": T, "keep": "all-but-last"}], 1),
    ("line-dropped-in-the-middle", [{"lines": T, "drop": 5}], 1),
    ("line-duplicated", [{"lines": T, "dup": 5}], 1),
    ("lines-swapped", [{"lines": T, "swap": [4, 5]}], 1),
    ("byte-flipped", [{"flip": T, "at": 700}], 1),
    ("invalid-utf8", [{"replace": T, "from": "root-rotate", "to_hex": "726f6f74ff"}], 1),
    ("nul-byte", [{"replace": T, "from": "root-rotate", "to_hex": "726f6f7400"}], 1),
    ("crlf-line-endings", [{"replace_all": T, "from": "\n", "to": "\r\n"}], 1),
    ("not-json-line", [{"lines": T, "insert": [3, "this is not json"]}], 1),
    ("array-line", [{"lines": T, "insert": [3, "[1,2,3]"]}], 1),
    ("deeply-nested-line", [{"lines": T, "insert": [3, "[" * 10000 + "]" * 10000]}], 1),
    ("huge-number-line", [{"lines": T, "insert": [3, '{"seq": ' + "9" * 600 + "}"]}], 1),
    ("empty-file", [{"truncate": T, "to": 0}], 1),
    ("fifo", [{"remove": T}, {"fifo": T}], 1),
    ("directory", [{"remove": T}, {"mkdir": T}], 1),
    ("dangling-symlink", [{"remove": T}, {"symlink": T, "to": "gone"}], 2),
    ("device", [{"remove": T}, {"symlink": T, "to": "/dev/zero"}], 1),
    ("sparse-3-gib", [{"remove": T}, {"sparse": T, "size": HUGE}], 1),
]
UNREADABLE = {"fifo", "directory", "dangling-symlink", "device", "sparse-3-gib"}
for failure, setup, code in TRANSCRIPT_MUTATIONS:
    case("transcripts", failure, "verify", ["transcript", "verify", T], exit=code,
         names=["transcript.jsonl"], setup=[REHEARSAL] + setup)
    case("transcripts", failure, "report", ["transcript", "report", T, "--out", "report.md"],
         exit=code, names=["transcript.jsonl"], setup=[REHEARSAL] + setup,
         writes=[] if failure in UNREADABLE else ["report.md"])
    case("transcripts", failure, "report-pdf", ["transcript", "report", T, "--pdf", "report.pdf"],
         exit=code, names=["transcript.jsonl"], setup=[REHEARSAL] + setup,
         writes=[] if failure in UNREADABLE else ["report.pdf"])
for failure, extra, names in [
    ("expect-hash-mismatch", ["--expect-hash", "ab" * 32], ["hash"]),
    ("expect-hash-malformed", ["--expect-hash", "xyz"], ["xyz"]),
    ("expect-keyid-mismatch", ["--expect-keyid", "cd" * 32], ["cd" * 8]),
]:
    case("transcripts", failure, "verify", ["transcript", "verify", T] + extra, names=names,
         setup=[REHEARSAL])
    case("transcripts", failure, "report",
         ["transcript", "report", T, "--out", "report.md"] + extra, names=names,
         setup=[REHEARSAL], writes=[] if failure.endswith("malformed") else ["report.md"])
for failure, setup in [
    ("out-exists", [{"write": "report.md", "text": "mine\n"}]),
    ("out-is-a-dangling-symlink", [{"symlink": "report.md", "to": "elsewhere.md"}]),
    ("out-is-a-directory", [{"mkdir": "report.md"}]),
]:
    case("transcripts", failure, "report", ["transcript", "report", T, "--out", "report.md"],
         names=["report.md"], setup=[REHEARSAL] + setup)
    case("transcripts", failure, "report-pdf",
         ["transcript", "report", T, "--pdf", "report.md"], names=["report.md"],
         setup=[REHEARSAL] + setup)

# ------------------------------------------------------------ scripts
SCRIPTS = os.path.join(DATA, "scripts")
for name in sorted(os.listdir(SCRIPTS)):
    if not name.endswith(".toml"):
        continue
    case("scripts", name[:-5], "run", ["run", "script.toml", "--workdir", "work", "--out", "export"],
         names=["script.toml"], copy_in=[["scripts/" + name, "script.toml"]],
         note="a bad script from tests/data/scripts: refused before any work directory exists")
ROOT_INIT = "../../ceremony-scripts/root-init.toml"
RUN = ["run", "script.toml", "--workdir", "work", "--out", "export"]
for failure, sets, names in [
    ("threshold-negative", ["root_threshold=-1"], ["root_threshold"]),
    ("threshold-non-integer", ["root_threshold=1.5"], ["root_threshold"]),
    ("threshold-2-pow-64", ["root_threshold=18446744073709551616"], ["root_threshold"]),
    ("threshold-zero", ["root_threshold=0"], ["root_threshold"]),
    ("threshold-above-key-count", ["root_threshold=9"], ["root_threshold"]),
    ("expires-days-zero", ["expires_days=0"], ["expires_days"]),
    ("expires-days-huge", ["expires_days=1000000000"], ["expires_days"]),
    ("unknown-parameter", ["root_treshold=2"], ["root_treshold"]),
    ("no-equals-sign", ["root_threshold"], ["root_threshold"]),
    ("flavour-unknown", ["flavour=x509"], ["flavour"]),
    ("repository-empty", ["repository="], ["repository"]),
]:
    args = list(RUN)
    for s in sets:
        args += ["--set", s]
    case("scripts", "set-" + failure, "root-init", args, names=names,
         copy_in=[[ROOT_INIT, "script.toml"]])
with open(os.path.join(DATA, "..", "..", "ceremony-scripts", "root-init.toml"), "rb") as f:
    root_init = f.read()
for failure, content, names in [
    ("nul-in-parameter", root_init.replace(b'repository = "', b'repository = "a\\u0000', 1),
     ["repository"]),
    ("invalid-utf8", root_init.replace(b"[parameters]", b"[parameters]\n# \xff\xfe", 1),
     ["script.toml"]),
    ("deeply-nested-array", root_init + b"\nx = " + b"[" * 10000 + b"]" * 10000 + b"\n",
     ["script.toml"]),
    ("truncated", root_init[: len(root_init) // 3], ["script.toml"]),
    ("empty", b"", ["script.toml"]),
    ("huge-integer", root_init.replace(b"[parameters]", b"[parameters]\nx = " + b"9" * 600, 1),
     ["script.toml"]),
]:
    case("scripts", failure, "root-init", RUN, names=names, files={"script.toml": content})
for failure, op in [
    ("script-is-a-fifo", {"fifo": "script.toml"}),
    ("script-is-a-directory", {"mkdir": "script.toml"}),
    ("script-is-a-device", {"symlink": "script.toml", "to": "/dev/zero"}),
    ("script-sparse-3-gib", {"sparse": "script.toml", "size": HUGE}),
]:
    case("scripts", failure, "run", RUN, names=["script.toml"], setup=[op])
# Answers files: read before anything is done; a secret in them is never shown.
PIN = "493817"
for failure, content, op in [
    ("answers-malformed", b"[confirm\ndefault = true\n", None),
    ("answers-unknown-section", b"[confrim]\ndefault = true\n", None),
    ("answers-secret-on-a-malformed-line",
     f'[confirm]\ndefault = true\n[secrets]\n"soft:k.age" = {PIN}x\n'.encode(), None),
    ("answers-secret-beside-a-wrong-type",
     f'[secrets]\n"soft:k.age" = "{PIN}"\n[confirm]\ndefault = "yes"\n'.encode(), None),
    ("answers-secret-not-a-string",
     f'[confirm]\ndefault = true\n[secrets]\n"soft:k.age" = {PIN}\n'.encode(), None),
    ("answers-invalid-utf8", b"[confirm]\ndefault = true\n# \xff\n", None),
    ("answers-is-a-fifo", None, {"fifo": "answers.toml"}),
    ("answers-is-a-device", None, {"symlink": "answers.toml", "to": "/dev/zero"}),
]:
    files = {"answers.toml": content} if content is not None else {}
    case("scripts", failure, "root-init",
         RUN + ["--answers", "answers.toml", "--token", f"root-1=pkcs11:token=root-1;object=r",
                "--token", "root-2=pkcs11:token=root-2;object=r"],
         names=["answers.toml"], secrets=[PIN], files=files,
         copy_in=[[ROOT_INIT, "script.toml"]], setup=[op] if op else [])

# ------------------------------------------------------------ token references
SECRET = "7305928164"
for failure, ref, names, code in [
    ("pin-value-in-uri", f"pkcs11:token=root-1;object=k;pin-value={SECRET}", ["pkcs11"], 1),
    ("pin-value-repeated-in-label", f"pkcs11:pin-value={SECRET};token={SECRET}1",
     ["token reference"], 1),
    ("pin-in-unknown-attribute", f"pkcs11:token=a;object=k;passwd={SECRET}", ["passwd"], 1),
    ("pin-source-is-a-fifo", "pkcs11:token=a;object=k;pin-source=file:pin.fifo", ["pin"], 1),
    ("pin-source-is-a-device", "pkcs11:token=a;object=k;pin-source=file:/dev/zero", ["pin"], 1),
    ("percent-encoding-broken", "pkcs11:token=a%zz;object=k", ["%zz"], 1),
    ("percent-encoded-nul", "pkcs11:token=a%00b;object=k", ["token"], 2),
    ("label-absent", "pkcs11:token=no-such-token;object=k", ["no-such-token"], 2),
    ("no-object", "pkcs11:token=a", ['"a"'], 2),
    ("unknown-scheme", "file:/etc/passwd", ["file:"], 1),
    ("empty-reference", "", ["token"], 1),
    # (a serial that is not digits is not repeated: it may hold a PIN run into it)
    ("yubikey-serial-not-a-number", "yubikey:serial=abc;slot=9c", ["serial="], 1),
    ("yubikey-serial-overflows", "yubikey:serial=99999999999999999999;slot=9c",
     ["serial="], 1),
    ("yubikey-slot-unknown", "yubikey:serial=1;slot=zz", ["zz"], 1),
    ("yubikey-management-key-in-reference",
     f"yubikey:serial=1;slot=9c;management-key={SECRET}", ["yubikey"], 1),
    # `key show` reads a software key's public half, KEY.age.pub.
    ("soft-key-public-half-is-a-fifo", "soft:key.age", ["key.age.pub"], 1),
    ("soft-key-public-half-is-a-directory", "soft:dir.age", ["dir.age.pub"], 1),
    ("soft-key-missing", "soft:missing.age", ["missing.age"], 2),
    ("soft-key-public-half-is-a-device", "soft:zero.age", ["zero.age.pub"], 1),
    ("soft-key-public-half-sparse-3-gib", "soft:huge.age", ["huge.age.pub"], 1),
    ("soft-key-public-half-not-a-key", "soft:text.age", ["text.age.pub"], 1),
]:
    setup = [{"fifo": "pin.fifo"}, {"write": "key.age", "text": "x"}, {"fifo": "key.age.pub"},
             {"write": "dir.age", "text": "x"}, {"mkdir": "dir.age.pub"},
             {"write": "zero.age", "text": "x"}, {"symlink": "zero.age.pub", "to": "/dev/zero"},
             {"write": "huge.age", "text": "x"}, {"sparse": "huge.age.pub", "size": HUGE},
             {"write": "text.age", "text": "x"},
             {"write": "text.age.pub", "text": "not a key\n"}]
    case("tokens", failure, "key-show", ["key", "show", "--token", ref], exit=code,
         names=names, secrets=[SECRET], setup=setup)
for failure, module in [
    ("module-not-a-library", "text.so"),
    ("module-is-a-fifo", "fifo.so"),
    ("module-is-a-directory", "dir.so"),
    ("module-missing", "missing.so"),
]:
    case("tokens", failure, "key-show",
         ["key", "show", "--module", module, "--token", "pkcs11:token=a;object=k"], exit=2,
         names=[module], setup=[{"write": "text.so", "text": "not a library"},
                                {"fifo": "fifo.so"}, {"mkdir": "dir.so"}])

# ------------------------------------------------------------ key files
SIG5 = json.loads(load(os.path.join(DATA, STAGING, "5.root.json")))
KEY = next(iter(SIG5["signed"]["keys"].values()))
KEY = {k: v for k, v in KEY.items() if not k.startswith("x-")}
PY = "real-roots/python-tuf/generated-ed25519/1.root.json"
ADD = ["root", "add-key", "root.json", "--out", "new.json", "--role", "targets", "--key",
       "keyfile:key.json"]


def keyfile(fn):
    k = copy.deepcopy(KEY)
    fn(k)
    return dumps(k)


for failure, content in [
    ("keyval-non-integer-number", keyfile(lambda k: k["keyval"].__setitem__("x", 1.5))),
    ("keyval-public-missing", keyfile(lambda k: k["keyval"].pop("public"))),
    ("keyval-public-a-number", keyfile(lambda k: k["keyval"].__setitem__("public", 7))),
    ("keyval-public-not-pem", keyfile(lambda k: k["keyval"].__setitem__("public", "hello"))),
    ("keytype-unknown", keyfile(lambda k: k.__setitem__("keytype", "dsa"))),
    ("scheme-unknown", keyfile(lambda k: k.__setitem__("scheme", "ecdsa-sha1"))),
    ("pem-truncated", keyfile(lambda k: k["keyval"].__setitem__(
        "public", k["keyval"]["public"][:60]))),
    ("ed25519-wrong-length", dumps({"keytype": "ed25519", "scheme": "ed25519",
                                    "keyval": {"public": "ab" * 31}})),
    ("ed25519-not-hex", dumps({"keytype": "ed25519", "scheme": "ed25519",
                               "keyval": {"public": "zz" * 32}})),
    ("not-json", b"-----BEGIN PUBLIC KEY-----\n"),
    ("array", b"[]"),
    ("deeply-nested", b"[" * 10000 + b"]" * 10000),
    ("invalid-utf8", dumps(KEY).replace(b'"keytype"', b'"key\xfftype"', 1)),
]:
    case("keyfiles", failure, "add-key", ADD, names=["key.json"], files={"key.json": content},
         copy_in=[[PY, "root.json"]])
for failure, op in [
    ("key-is-a-fifo", {"fifo": "key.json"}),
    ("key-is-a-device", {"symlink": "key.json", "to": "/dev/zero"}),
    ("key-sparse-3-gib", {"sparse": "key.json", "size": HUGE}),
]:
    case("keyfiles", failure, "add-key", ADD, names=["key.json"], setup=[op],
         copy_in=[[PY, "root.json"]])
case("keyfiles", "out-exists", "add-key", ADD, names=["new.json"],
     files={"key.json": dumps(KEY)}, copy_in=[[PY, "root.json"]],
     setup=[{"write": "new.json", "text": "mine\n"}])
case("keyfiles", "out-is-a-dangling-symlink", "add-key", ADD, names=["new.json"],
     files={"key.json": dumps(KEY)}, copy_in=[[PY, "root.json"]],
     setup=[{"symlink": "new.json", "to": "elsewhere.json"}])

# ------------------------------------------------------------ dates
for failure, date in [
    ("year-10000-through-an-offset", "9999-12-31T23:59:59-14:00"),
    ("year-10000", "10000-01-01"),
    ("negative-year", "-0001-01-01"),
    ("february-30", "2027-02-30"),
    ("month-13", "2027-13-01"),
    ("hour-24", "2027-01-01T24:00:00Z"),
    ("leap-second", "2027-06-30T23:59:60Z"),
    ("no-time-zone", "2027-01-01T00:00:00"),
    ("single-digit-month", "2027-1-01"),
    ("leading-space", " 2027-01-01"),
    ("empty", ""),
    ("words", "next year"),
    ("in-the-past", "2001-01-01"),
    ("unix-seconds", "1900000000"),
    ("offset-out-of-range", "2027-01-01T00:00:00+25:00"),
]:
    case("dates", failure, "set-expiry",
         ["root", "set-expiry", "root.json", "--out", "new.json", "--", date],
         names=[date.strip() or "date"], copy_in=[[PY, "root.json"]])

# ------------------------------------------------------------ QR images


def png(width, height, rows=None, declared=None):
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    w, h = declared or (width, height)
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    raw = rows if rows is not None else b"".join(b"\x00" + b"\xff" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 9))
            + chunk(b"IEND", b""))


DECODE = ["qr", "decode", "--out", "received"]
for failure, content in [
    ("not-an-image", b"hello\n"),
    ("empty-file", b""),
    ("blank-image", png(64, 64)),
    ("truncated-png", png(64, 64)[:40]),
    ("dimensions-claim-65535-squared", png(1, 1, declared=(65535, 65535))),
    ("decompression-bomb", png(10000, 10000,
                              rows=b"".join(b"\x00" + b"\xff" * 10000 for _ in range(10000)))),
    ("gif", b"GIF89a\x01\x00\x01\x00\x00\x00\x00;"),
]:
    case("qr", failure, "decode", DECODE + ["frame.png"], names=["frame.png"],
         files={"frame.png": content})
for failure, op in [
    ("image-is-a-fifo", {"fifo": "frame.png"}),
    ("image-is-a-directory", {"mkdir": "frame.png"}),
    ("image-is-a-device", {"symlink": "frame.png", "to": "/dev/zero"}),
    ("image-sparse-3-gib", {"sparse": "frame.png", "size": HUGE}),
]:
    case("qr", failure, "decode", DECODE + ["frame.png"], names=["frame.png"], setup=[op])
TEXTS = ["qr", "decode", "--out", "received", "--texts", "texts.txt"]
for failure, content, names in [
    ("texts-empty", b"", ["frame"]),
    ("texts-not-utf8", b"\xff\xfe ceremony-frame:1:1/1:\n", ["texts.txt"]),
    ("texts-not-frames", b"hello\nworld\n", ["frame text 1"]),
    ("texts-fountain-parts-garbled",
     b"ur:ceremony-bundle/1-4294967295/lpadaxaxaxaxaxax\nur:bytes/1-2/abc\n"
     b"UR:CEREMONY-BUNDLE/2-3/LPAD\n", ["texts.txt line 1", "not enough"]),
]:
    case("qr", failure, "decode", TEXTS, names=names, files={"texts.txt": content})
for failure, op in [
    ("texts-is-a-fifo", {"fifo": "texts.txt"}),
    ("texts-is-a-device", {"symlink": "texts.txt", "to": "/dev/zero"}),
    ("texts-is-a-directory", {"mkdir": "texts.txt"}),
]:
    case("qr", failure, "decode", TEXTS, names=["texts.txt"], setup=[op])
FRAMES = [REHEARSAL, {"qr_encode": B, "to_dir": "frames"}]
for failure, args, setup, names in [
    ("out-is-a-dangling-symlink", DECODE + ["glob:frames/*.png"],
     [{"symlink": "received", "to": "elsewhere"}], ["received"]),
    ("out-exists", DECODE + ["glob:frames/*.png"], [{"mkdir": "received"}], ["received"]),
    ("out-under-a-regular-file", ["qr", "decode", "--out", "file/received", "glob:frames/*.png"],
     [{"write": "file", "text": "x"}], ["file"]),
    ("frame-missing", DECODE + ["glob:frames/*.png"], [{"remove": "frames/frame-002.png"}], ["frame"]),
    ("frames-of-another-bundle", DECODE + ["glob:frames/*.png", "--expect-bundle", "ab" * 32], [],
     ["bundle"]),
    ("expect-bundle-malformed", DECODE + ["glob:frames/*.png", "--expect-bundle", "nope"], [], ["nope"]),
]:
    case("qr", failure, "decode", args, names=names, setup=FRAMES + setup)
for failure, args, setup, names in [
    ("chunk-too-big-for-a-code", ["qr", "encode", B, "--out", "qr", "--chunk", "4000"], [],
     ["4000"]),
    ("chunk-zero", ["qr", "encode", B, "--out", "qr", "--chunk", "0"], [], ["chunk"]),
    ("chunk-negative", ["qr", "encode", B, "--out", "qr", "--chunk=-5"], [], ["-5"]),
    ("out-is-a-dangling-symlink", ["qr", "encode", B, "--out", "qr"],
     [{"symlink": "qr", "to": "elsewhere"}], ["qr"]),
    ("out-exists", ["qr", "encode", B, "--out", "qr"], [{"mkdir": "qr"}], ["qr"]),
]:
    case("qr", failure, "encode", args, names=names, setup=[REHEARSAL] + setup)
for failure, setup in [
    ("out-exists", [{"mkdir": "rehearsal"}]),
    ("out-is-a-dangling-symlink", [{"symlink": "rehearsal", "to": "elsewhere"}]),
]:
    case("outputs", failure, "rehearse", ["rehearse", "--yes", "--out", "rehearsal"],
         names=["rehearsal"], setup=setup)


# ------------------------------------------------------------ write it out
# ------------------------------------------------------------ signing events
# A further site imports the previous site's export (run root-countersign
# --previous); the online side carries an event (request --signing-event: an
# export, or a tuf-on-ci checkout) and writes signatures back (publish
# --tuf-on-ci); compliance staff check witnesses (transcript verify --witness).
with open(os.path.join(DATA, "..", "..", "ceremony-scripts", "root-countersign.toml"), "rb") as f:
    COUNTERSIGN = f.read()
CS_FILES = {"countersign.toml": COUNTERSIGN, "answers.toml": b"[confirm]\ndefault = true\n"}
CS = ["run", "countersign.toml", "--workdir", "work", "--out", "out", "--allow-network",
      "--answers", "answers.toml", "--trusted", f"{B}/1.root.json",
      "--token", "keyholder=soft:key.age", "--previous"]
ADD_EVENT = [{"rehash": f"{B}/signing-event.json", "manifest": f"{B}/manifest.json"}]
EVENT = {
    "format": "ceremony-signing-event/1", "repository": "example.com/app", "flavour": "tuf",
    "version": 2, "sha256_of_signed": "00" * 32, "site": 1, "complete": False,
    "current": ["1.root.json"], "draft": "2.root.json", "thresholds": [], "sites": [],
}


def event(fn):
    e = copy.deepcopy(EVENT)
    fn(e)
    return json.dumps(e)


for failure, setup, names in [
    ("previous-is-not-a-signing-event", [], ["signing-event.json"]),
    ("previous-missing", [{"remove": f"{B}/manifest.json"}], ["manifest.json"]),
    ("previous-manifest-is-a-fifo",
     [{"remove": f"{B}/manifest.json"}, {"fifo": f"{B}/manifest.json"}], ["manifest.json"]),
    ("previous-event-file-unlisted",
     [{"write": f"{B}/signing-event.json", "text": event(lambda e: None)}],
     ["signing-event.json"]),
    ("previous-event-file-malformed",
     [{"write": f"{B}/signing-event.json", "text": "{\"format\": "}] + ADD_EVENT,
     ["signing-event.json"]),
    ("previous-event-file-deeply-nested",
     [{"write": f"{B}/signing-event.json", "text": "[" * 10000 + "]" * 10000}] + ADD_EVENT,
     ["signing-event.json"]),
    ("previous-event-file-unknown-format",
     [{"write": f"{B}/signing-event.json",
       "text": event(lambda e: e.__setitem__("format", "x/9"))}] + ADD_EVENT,
     ["signing-event.json"]),
    ("previous-transcript-not-begun-as-a-site",
     [{"write": f"{B}/signing-event.json", "text": event(lambda e: None)}] + ADD_EVENT,
     ["site 1"]),
    ("previous-site-transcript-outside-the-export",
     [{"write": f"{B}/signing-event.json", "text": event(lambda e: e.__setitem__(
         "sites", [{"site": 1, "transcript": "../../../etc/passwd", "final_hash": "00"}]))}]
     + ADD_EVENT, ["site 1", "../../../etc/passwd"]),
    ("previous-site-numbers-out-of-order",
     [{"write": f"{B}/signing-event.json", "text": event(lambda e: e.__setitem__("site", 7))}]
     + ADD_EVENT, ["site 7"]),
]:
    case("signing-events", failure, "countersign", CS + [B], names=names,
         files=dict(CS_FILES), setup=[REHEARSAL] + setup)

TOC = "real-roots/tuf-on-ci/jku-tuf-demo"
REQ_EVENT = ["request", "--signing-event", "checkout", "--repository", "example.com/app",
             "--out", "request"]
for failure, copy_in, setup, names in [
    ("checkout-has-no-event", [], [{"mkdir": "checkout"}], ["checkout"]),
    ("root-not-written-as-tuf-on-ci-writes",
     [["real-roots/tuf-on-ci/repo-test-repo2/root.json", "checkout/metadata/root.json"]], [],
     ["root.json", "as tuf-on-ci writes"]),
    ("root-is-a-fifo", [], [{"mkdir": "checkout/metadata"}, {"fifo": "checkout/metadata/root.json"}],
     ["root.json"]),
    ("root-sparse-3-gib", [],
     [{"mkdir": "checkout/metadata"}, {"sparse": "checkout/metadata/root.json", "size": HUGE}],
     ["root.json"]),
    ("root-history-missing", [[f"{TOC}/2.root.json", "checkout/metadata/root.json"]], [],
     ["1.root.json"]),
    ("out-exists", [[f"{TOC}/2.root.json", "checkout/metadata/root.json"],
                    [f"{TOC}/1.root.json", "checkout/metadata/root_history/1.root.json"]],
     [{"mkdir": "request"}], ["request"]),
]:
    case("signing-events", failure, "request-tuf-on-ci", REQ_EVENT, names=names,
         copy_in=copy_in, setup=setup)
# A real tuf-on-ci event is carried, whatever git's files in the checkout say.
for failure, setup in [
    ("git-head-is-a-fifo", [{"mkdir": "checkout/.git"}, {"fifo": "checkout/.git/HEAD"}]),
    ("git-head-points-outside",
     [{"mkdir": "checkout/.git"},
      {"write": "checkout/.git/HEAD", "text": "ref: ../../../../etc/passwd\n"}]),
    ("git-ref-is-a-device",
     [{"mkdir": "checkout/.git/refs/heads"},
      {"write": "checkout/.git/HEAD", "text": "ref: refs/heads/sign/x\n"},
      {"mkdir": "checkout/.git/refs/heads/sign"},
      {"symlink": "checkout/.git/refs/heads/sign/x", "to": "/dev/zero"}]),
]:
    case("signing-events", failure, "request-tuf-on-ci", REQ_EVENT, exit=0,
         copy_in=[[f"{TOC}/2.root.json", "checkout/metadata/root.json"],
                  [f"{TOC}/1.root.json", "checkout/metadata/root_history/1.root.json"]],
         setup=setup, writes=["request"],
         note="the event is carried; the branch and commit are recorded as unknown")
with open(os.path.join(DATA, TOC, "2.root.json"), "rb") as f:
    TOC_ROOT = f.read()
# A symbolic link committed to the repository could point at any file of the
# machine: it would travel in the request. Refused, whatever it points at.
for failure, setup, names in [
    ("root-history-is-a-symlink",
     [{"mkdir": "checkout/metadata/root_history"},
      {"symlink": "checkout/metadata/root_history/1.root.json", "to": "/etc/hostname"}],
     ["1.root.json", "symbolic link"]),
    ("metadata-is-a-symlink",
     [{"mkdir": "elsewhere"}, {"symlink": "checkout/metadata", "to": "../elsewhere"}],
     ["metadata"]),
]:
    case("signing-events", failure, "request-tuf-on-ci", REQ_EVENT, names=names,
         files={"checkout/.keep": b""} if failure == "metadata-is-a-symlink"
         else {"checkout/metadata/root.json": TOC_ROOT},
         setup=setup)
case("signing-events", "root-with-a-trailing-newline", "request-tuf-on-ci", REQ_EVENT,
     names=["root.json", "as tuf-on-ci writes"],
     copy_in=[[f"{TOC}/1.root.json", "checkout/metadata/root_history/1.root.json"]],
     files={"checkout/metadata/root.json": TOC_ROOT + b"\n"},
     note="one byte more than tuf-on-ci writes: adding signatures would change it")
case("signing-events", "export-is-not-a-signing-event", "publish-tuf-on-ci",
     ["publish", B, "--tuf-on-ci", "checkout"], names=["signing-event.json"],
     setup=[REHEARSAL, {"mkdir": "checkout"}])

SSH_KEY = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGq8d3ZSM4vJCbH8ZFV2uh8t1cIvFWsHVEkV4P0r0e3B"
           " witness@example.com\n")
WV = ["transcript", "verify", B, "--accept-practice", "--witness", "witness.pub"]
for failure, files, setup, names, code in [
    ("witness-key-malformed", {"witness.pub": b"ssh-ed25519 AAAA!!not-base64 x\n"}, [],
     ["witness.pub"], 1),
    ("witness-key-is-a-fifo", {}, [{"fifo": "witness.pub"}], ["witness.pub"], 1),
    ("witness-key-sparse-3-gib", {}, [{"sparse": "witness.pub", "size": HUGE}],
     ["witness.pub"], 1),
    ("no-witness-signed", {"witness.pub": SSH_KEY.encode()}, [], ["witness"], 1),
    ("witness-file-unlisted", {"witness.pub": SSH_KEY.encode()},
     [{"write": f"{B}/witnesses.json", "text": "{}"}], ["witnesses.json"], 1),
]:
    case("signing-events", failure, "transcript-verify-witness", WV, exit=code, names=names,
         files=files, setup=[REHEARSAL] + setup)


def main():
    for entry in os.listdir(HERE):
        path = os.path.join(HERE, entry)
        if os.path.isdir(path):
            shutil.rmtree(path)
    seen = set()
    for c in cases:
        key = (c["family"], c["failure"], c["variant"])
        assert key not in seen, key
        seen.add(key)
        d = os.path.join(HERE, *key)
        os.makedirs(d)
        for rel, content in c.pop("files").items():
            p = os.path.join(d, rel)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "wb") as f:
                f.write(content)
        for k in ("family", "failure", "variant"):
            c.pop(k)
        with open(os.path.join(d, "case.json"), "w") as f:
            json.dump(c, f, indent=1, ensure_ascii=True)
            f.write("\n")
    print(f"{len(cases)} cases")


main()
