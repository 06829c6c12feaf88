#!/usr/bin/env python3
"""Independent generator of the version 1 keystore known-answer vector.

Written from the format in keystore/doc.go only, with no Go code involved:
Argon2id, HKDF-SHA256, ChaCha20-Poly1305 and Ed25519 come from the Python
`cryptography` package (>= 44); HChaCha20 (for XChaCha20-Poly1305,
draft-irtf-cfrg-xchacha-03) is implemented below and checked against the
draft's test vector. Writes v1.keystore and v1.json next to this script.
"""
import json
import os
import struct

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def _rotl(v, c):
    return ((v << c) & 0xFFFFFFFF) | (v >> (32 - c))


def _qr(s, a, b, c, d):
    s[a] = (s[a] + s[b]) & 0xFFFFFFFF; s[d] = _rotl(s[d] ^ s[a], 16)
    s[c] = (s[c] + s[d]) & 0xFFFFFFFF; s[b] = _rotl(s[b] ^ s[c], 12)
    s[a] = (s[a] + s[b]) & 0xFFFFFFFF; s[d] = _rotl(s[d] ^ s[a], 8)
    s[c] = (s[c] + s[d]) & 0xFFFFFFFF; s[b] = _rotl(s[b] ^ s[c], 7)


def hchacha20(key, nonce16):
    s = [0x61707865, 0x3320646E, 0x79622D32, 0x6B206574]
    s += list(struct.unpack("<8I", key)) + list(struct.unpack("<4I", nonce16))
    for _ in range(10):
        _qr(s, 0, 4, 8, 12); _qr(s, 1, 5, 9, 13); _qr(s, 2, 6, 10, 14); _qr(s, 3, 7, 11, 15)
        _qr(s, 0, 5, 10, 15); _qr(s, 1, 6, 11, 12); _qr(s, 2, 7, 8, 13); _qr(s, 3, 4, 9, 14)
    return struct.pack("<8I", *(s[0:4] + s[12:16]))


# draft-irtf-cfrg-xchacha-03, section 2.2.1.
assert hchacha20(bytes(range(32)), bytes.fromhex("000000090000004a0000000031415927")).hex() == (
    "82413b4227b27bfed30e42508a877d73a0f9e4d58a74a853c12ec41326d3ecdc")


def xchacha20poly1305_seal(key, nonce24, pt, ad):
    sub = hchacha20(key, nonce24[:16])
    return ChaCha20Poly1305(sub).encrypt(b"\0" * 4 + nonce24[16:], pt, ad)


B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def base58(b):
    n = int.from_bytes(b, "big")
    out = ""
    while n:
        n, r = divmod(n, 58)
        out = B58[r] + out
    return "1" * (len(b) - len(b.lstrip(b"\0"))) + out


passphrase = b"correct horse battery staple"
t, m, p = 3, 64 * 1024, 4
salt = bytes(range(0x00, 0x10))
nonce = bytes(range(0x10, 0x28))
data_key = bytes(range(0x40, 0x60))
seed = bytes(range(0x60, 0x80))

header = b"DOKS" + bytes([1, 1]) + struct.pack(">II", t, m) + bytes([p, len(salt)]) + salt + nonce
kek = Argon2id(salt=salt, length=32, iterations=t, lanes=p, memory_cost=m).derive(passphrase)
file = header + xchacha20poly1305_seal(kek, nonce, data_key + seed, header)
assert len(file) == 136

pub = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(
    serialization.Encoding.Raw, serialization.PublicFormat.Raw)
# libp2p PublicKey protobuf {Type: Ed25519 (1), Data: pub}, identity multihash.
pb = b"\x08\x01\x12\x20" + pub
peer_id = base58(b"\x00" + bytes([len(pb)]) + pb)


def subkey(label):
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=b"discordopus/v1/" + label.encode()).derive(data_key).hex()


here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "v1.keystore"), "wb") as f:
    f.write(file)
with open(os.path.join(here, "v1.json"), "w") as f:
    json.dump({
        "passphrase": passphrase.decode(),
        "salt": salt.hex(),
        "nonce": nonce.hex(),
        "data_key": data_key.hex(),
        "seed": seed.hex(),
        "kek": kek.hex(),
        "public_key": pub.hex(),
        "peer_id": peer_id,
        "subkeys": {l: subkey(l) for l in ["store/encryption", "store/seal"]},
    }, f, indent=2)
    f.write("\n")
