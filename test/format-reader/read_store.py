#!/usr/bin/python3
"""A reader of a whole cairn store, written from docs/FORMAT.md alone.

It shares no code with cairn. It uses Python's standard library (HMAC, SHA-256, HKDF built
from HMAC), Debian's python3-cryptography for the IETF ChaCha20-Poly1305 that
XChaCha20-Poly1305 is built on (HChaCha20 is written out below), stock GnuPG to open a key
slot, and Debian's `zstd` command for compressed blobs. test/integration/format-reader.test.ts
runs it on a store written by a mount and by `cairn backup`. If the two disagree, the
document is wrong or incomplete, or cairn breaks it.

    read_store.py STORE PASSPHRASE_FILE GNUPG_HOME  ->  JSON on stdout

The JSON lists every snapshot that is not forgotten, oldest first, with every path in it,
and counts of what the store held (index files, those that supersede others, superseded
ones still present, packs, blobs by encoding).
Each path has its type, mode, size, fileId, links, mtime and xattrs (hex values). A file also
has the SHA-256 of its content, a symlink its target. The reader checks every rule it can on the way and exits 1
naming the first it finds broken:
- every object's name is the SHA-256 of its bytes;
- every box authenticates under the associated data its kind has;
- every blob's id is the HMAC of its plaintext, and its length is the one its entry gives;
- every pack header agrees with the index entries for that pack;
- a file's chunks hold exactly its size.
"""
import base64
import hashlib
import hmac
import json
import os
import struct
import subprocess
import sys

from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305


class Broken(Exception):
    pass


def require(ok, what):
    if not ok:
        raise Broken(what)


# --- "Keys": HKDF-SHA256 (RFC 5869) with the repository id as salt ---

def hkdf(ikm, salt, info, length):
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        out += block
        counter += 1
    return out[:length]


# --- "Sealed box": XChaCha20-Poly1305 = HChaCha20 subkey + IETF ChaCha20-Poly1305 ---

def _rotl(v, n):
    return ((v << n) & 0xFFFFFFFF) | (v >> (32 - n))


def _quarter(s, a, b, c, d):
    s[a] = (s[a] + s[b]) & 0xFFFFFFFF; s[d] = _rotl(s[d] ^ s[a], 16)
    s[c] = (s[c] + s[d]) & 0xFFFFFFFF; s[b] = _rotl(s[b] ^ s[c], 12)
    s[a] = (s[a] + s[b]) & 0xFFFFFFFF; s[d] = _rotl(s[d] ^ s[a], 8)
    s[c] = (s[c] + s[d]) & 0xFFFFFFFF; s[b] = _rotl(s[b] ^ s[c], 7)


def hchacha20(key, nonce16):
    s = list(struct.unpack("<4I", b"expand 32-byte k")) + list(struct.unpack("<8I", key)) + list(struct.unpack("<4I", nonce16))
    for _ in range(10):
        _quarter(s, 0, 4, 8, 12); _quarter(s, 1, 5, 9, 13); _quarter(s, 2, 6, 10, 14); _quarter(s, 3, 7, 11, 15)
        _quarter(s, 0, 5, 10, 15); _quarter(s, 1, 6, 11, 12); _quarter(s, 2, 7, 8, 13); _quarter(s, 3, 4, 9, 14)
    return struct.pack("<8I", *(s[0:4] + s[12:16]))


def open_box(key, box, aad, what):
    require(len(box) >= 40, f"{what}: a box is at least 40 bytes, this one {len(box)}")
    nonce = box[:24]
    subkey = hchacha20(key, nonce[:16])
    try:
        return ChaCha20Poly1305(subkey).decrypt(b"\0\0\0\0" + nonce[16:24], box[24:], aad)
    except Exception:
        raise Broken(f"{what}: does not authenticate")


# --- the store ---

class Store:
    def __init__(self, root):
        self.root = root

    def names(self, kind):
        base = os.path.join(self.root, kind)
        if not os.path.isdir(base):
            return []
        if kind == "data":
            found = []
            for fan in sorted(os.listdir(base)):
                found += [n for n in os.listdir(os.path.join(base, fan)) if is_name(n)]
            return sorted(found)
        return sorted(n for n in os.listdir(base) if is_name(n))

    def path(self, kind, name):
        return os.path.join(self.root, kind, name[:2], name) if kind == "data" else os.path.join(self.root, kind, name)

    def read(self, kind, name):
        with open(self.path(kind, name), "rb") as f:
            data = f.read()
        require(hashlib.sha256(data).hexdigest() == name, f"{kind}/{name}: its name is not the SHA-256 of its bytes")
        return data


def is_name(n):
    return len(n) == 64 and all(c in "0123456789abcdef" for c in n)


def master_key(store, repository_id, passphrase_file, gnupg_home):
    for name in store.names("keys"):
        result = subprocess.run(
            ["gpg", "--batch", "--quiet", "--homedir", gnupg_home, "--pinentry-mode", "loopback", "--passphrase-file", passphrase_file, "--decrypt", store.path("keys", name)],
            capture_output=True,
        )
        if result.returncode != 0:
            continue
        slot = json.loads(result.stdout.decode("utf-8"))
        require(slot["cairn"] == "cairn master key" and slot["repository"] == repository_id, f"keys/{name}: not this repository's master key")
        return bytes.fromhex(slot["masterKey"])
    raise Broken("no key slot opens with this passphrase")


class Reader:
    def __init__(self, root, passphrase_file, gnupg_home):
        self.store = Store(root)
        with open(os.path.join(root, "config"), "rb") as f:
            config = json.loads(f.read().decode("utf-8"))
        require(config["magic"] == "cairn-repository" and config["version"] in (1, 2, 3), f"config: unknown {config}")
        repository_id = bytes.fromhex(config["id"])
        master = master_key(self.store, config["id"], passphrase_file, gnupg_home)
        self.k_enc = hkdf(master, repository_id, b"cairn v1 encryption", 32)
        self.k_id = hkdf(master, repository_id, b"cairn v1 blob id", 32)
        self.blobs = {}  # blob id -> (pack, type, encoding, offset, box length, blob length)
        self.packs = {}  # pack -> {offset: (type, encoding, id, box length, blob length)} as the index names them
        self.load_index()

    def open_object(self, kind, name, aad):
        return open_box(self.k_enc, self.store.read(kind, name), aad, f"{kind}/{name}")

    # "Index files"
    def load_index(self):
        files = {}
        for name in self.store.names("index"):
            files[name] = parse_index(self.open_object("index", name, b"cairn/index/v1"), name)
        superseded = {s for f in files.values() for s in f["superseded"] if s in files}
        self.index_files, self.superseded = len(files), len(superseded)
        self.superseding = sum(1 for f in files.values() if f["superseded"])
        for name, f in files.items():
            if name in superseded:
                continue
            for pack, entries in f["packs"]:
                listed = self.packs.setdefault(pack, {})
                for t, enc, blob_id, offset, length, plain in entries:
                    listed[offset] = (t, enc, blob_id, length, plain)
                    self.blobs[blob_id] = (pack, t, enc, offset, length, plain)
        for pack, by_offset in self.packs.items():
            self.check_pack_header(pack, by_offset)

    # "Pack files": the header agrees with what the index says the pack holds
    def check_pack_header(self, pack, indexed):
        data = self.store.read("data", pack)
        (header_length,) = struct.unpack("<I", data[-4:])
        header = open_box(self.k_enc, data[-4 - header_length:-4], b"cairn/pack-header/v1", f"pack {pack} header")
        version, n = header[0], struct.unpack("<I", header[1:5])[0]
        entries, at, offset = {}, 5, 0
        for _ in range(n):
            if version == 2:
                t, enc, blob_id, length, plain = header[at], header[at + 1], header[at + 2:at + 34].hex(), *struct.unpack("<II", header[at + 34:at + 42])
                at += 42
            else:
                require(version == 1, f"pack {pack}: header version {version}")
                t, enc, blob_id, length = header[at], 0, header[at + 1:at + 33].hex(), struct.unpack("<I", header[at + 33:at + 37])[0]
                plain = length - 40
                at += 37
            require(enc != 0 or plain == length - 40, f"pack {pack}: a raw entry whose blob length is not its box length - 40")
            entries[offset] = (t, enc, blob_id, length, plain)
            offset += length
        require(at == len(header), f"pack {pack}: header has bytes after its {n} entries")
        require(offset + header_length + 4 == len(data), f"pack {pack}: its boxes, header and length do not add up to its size")
        for at_offset, entry in indexed.items():
            require(entries.get(at_offset) == entry, f"pack {pack}: the index's entry at {at_offset} is not the header's")

    # "Blobs and blob ids", "Blob encodings"
    def blob(self, blob_id, want_type):
        require(blob_id in self.blobs, f"blob {blob_id}: no index entry names it")
        pack, t, enc, offset, length, plain = self.blobs[blob_id]
        require(t == want_type, f"blob {blob_id}: type {t}, wanted {want_type}")
        with open(self.store.path("data", pack), "rb") as f:
            f.seek(offset)
            box = f.read(length)
        aad = b"cairn/blob/v1" + bytes([t]) + bytes.fromhex(blob_id) + (bytes([enc]) if enc != 0 else b"")
        payload = open_box(self.k_enc, box, aad, f"blob {blob_id}")
        if enc == 1:
            payload = subprocess.run(["zstd", "-d", "-q", "-c"], input=payload, capture_output=True, check=True).stdout
        else:
            require(enc == 0, f"blob {blob_id}: unknown encoding {enc}")
        require(len(payload) == plain, f"blob {blob_id}: {len(payload)} bytes, its entry says {plain}")
        require(hmac.new(self.k_id, payload, hashlib.sha256).hexdigest() == blob_id, f"blob {blob_id}: its id is not the HMAC of its plaintext")
        return payload

    # "Snapshots", "Forget records"
    def snapshots(self):
        forgotten = set()
        for name in self.store.names("forgotten"):
            record = json.loads(self.open_object("forgotten", name, b"cairn/forget/v1"))
            forgotten |= {f["id"] for f in record["forgotten"]}
        found = []
        for name in self.store.names("snapshots"):
            if name in forgotten:
                continue
            s = json.loads(self.open_object("snapshots", name, b"cairn/snapshot/v1"))
            found.append((s["seq"], name, s))
        return [(name, s) for _, name, s in sorted(found)]

    # "Tree blobs"
    def walk(self, tree_id, prefix, out):
        tree = json.loads(self.blob(tree_id, 1))
        require(tree["version"] in (1, 2), f"tree {tree_id}: version {tree['version']}")
        names = [n["name"].encode("utf-8") for n in tree["nodes"]]
        require(names == sorted(names) and len(set(names)) == len(names), f"tree {tree_id}: names not sorted by their bytes, or repeated")
        for node in tree["nodes"]:
            path = prefix + node["name"]
            entry = {"type": node["type"], "mode": node["mode"], "size": node["size"], "fileId": node.get("fileId"), "links": node["links"], "mtime": node["mtime"]}
            if "xattrs" in node:
                names = [x["name"].encode("utf-8") for x in node["xattrs"]]
                require(names == sorted(names), f"{path}: xattrs not sorted by name")
                entry["xattrs"] = {x["name"]: base64.b64decode(x["value"]).hex() for x in node["xattrs"]}
            if node["type"] == "file":
                content = hashlib.sha256()
                held = 0
                for chunk in node["content"]:
                    data = self.blob(chunk, 0)
                    content.update(data[:max(0, node["size"] - held)])
                    held += len(data)
                require(held == node["size"], f"{path}: its chunks hold {held} bytes, its size is {node['size']}")
                entry["sha256"] = content.hexdigest()
            elif node["type"] == "symlink":
                entry["target"] = node["target"]
                require(len(node["target"].encode("utf-8")) == node["size"], f"{path}: a symlink's size is its target's length in bytes")
            out[path] = entry
            if node["type"] == "dir":
                self.walk(node["subtree"], path + "/", out)


def parse_index(p, name):
    version = p[0]
    require(version in (1, 2), f"index/{name}: version {version}")
    at = 1
    (s,) = struct.unpack("<I", p[at:at + 4]); at += 4
    superseded = [p[at + 32 * i:at + 32 * (i + 1)].hex() for i in range(s)]
    at += 32 * s
    (count,) = struct.unpack("<I", p[at:at + 4]); at += 4
    packs = []
    for _ in range(count):
        pack = p[at:at + 32].hex(); at += 32
        (b,) = struct.unpack("<I", p[at:at + 4]); at += 4
        entries = []
        for _ in range(b):
            if version == 2:
                t, enc, blob_id = p[at], p[at + 1], p[at + 2:at + 34].hex()
                offset, length, plain = struct.unpack("<III", p[at + 34:at + 46]); at += 46
            else:
                t, enc, blob_id = p[at], 0, p[at + 1:at + 33].hex()
                offset, length = struct.unpack("<II", p[at + 33:at + 41]); at += 41
                plain = length - 40
            entries.append((t, enc, blob_id, offset, length, plain))
        packs.append((pack, entries))
    require(at == len(p), f"index/{name}: bytes after its {count} packs")
    return {"superseded": superseded, "packs": packs}


def main():
    store, passphrase_file, gnupg_home = sys.argv[1:4]
    try:
        reader = Reader(store, passphrase_file, gnupg_home)
        result = []
        for name, s in reader.snapshots():
            paths = {}
            reader.walk(s["tree"], "", paths)
            result.append({"id": name, "seq": s["seq"], "tags": s.get("tags", []), "paths": paths})
    except Broken as e:
        print(f"read_store: {e}", file=sys.stderr)
        sys.exit(1)
    # What the store held, so a test can see which parts of the document were exercised.
    held = {
        "indexFiles": reader.index_files,
        "supersedingIndexFiles": reader.superseding,
        "supersededIndexFiles": reader.superseded,
        "packs": len(reader.packs),
        "blobsByEncoding": {str(enc): sum(1 for b in reader.blobs.values() if b[2] == enc) for enc in (0, 1)},
    }
    json.dump({"snapshots": result, "store": held}, sys.stdout, sort_keys=True)


if __name__ == "__main__":
    main()
