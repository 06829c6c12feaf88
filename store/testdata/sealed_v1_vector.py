#!/usr/bin/env python3
"""Computes the known-answer vector in sealed_v1.txt independently of the Go
code: HChaCha20 written out here from draft-irtf-cfrg-xchacha-03 (checked
against its section 2.2.1 test vector), ChaCha20-Poly1305 from the Python
"cryptography" package. Run: python3 sealed_v1_vector.py > sealed_v1.txt
"""
import struct

from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305


def rotl(v, c):
    return ((v << c) & 0xFFFFFFFF) | (v >> (32 - c))


def quarter(s, a, b, c, d):
    s[a] = (s[a] + s[b]) & 0xFFFFFFFF; s[d] = rotl(s[d] ^ s[a], 16)
    s[c] = (s[c] + s[d]) & 0xFFFFFFFF; s[b] = rotl(s[b] ^ s[c], 12)
    s[a] = (s[a] + s[b]) & 0xFFFFFFFF; s[d] = rotl(s[d] ^ s[a], 8)
    s[c] = (s[c] + s[d]) & 0xFFFFFFFF; s[b] = rotl(s[b] ^ s[c], 7)


def hchacha20(key, nonce16):
    s = [0x61707865, 0x3320646E, 0x79622D32, 0x6B206574]
    s += list(struct.unpack("<8I", key)) + list(struct.unpack("<4I", nonce16))
    for _ in range(10):
        quarter(s, 0, 4, 8, 12); quarter(s, 1, 5, 9, 13)
        quarter(s, 2, 6, 10, 14); quarter(s, 3, 7, 11, 15)
        quarter(s, 0, 5, 10, 15); quarter(s, 1, 6, 11, 12)
        quarter(s, 2, 7, 8, 13); quarter(s, 3, 4, 9, 14)
    return struct.pack("<8I", *(s[0:4] + s[12:16]))


# draft-irtf-cfrg-xchacha-03, section 2.2.1
assert hchacha20(bytes(range(32)), bytes.fromhex("000000090000004a0000000031415927")) == bytes.fromhex(
    "82413b4227b27bfed30e42508a877d73a0f9e4d58a74a853c12ec41326d3ecdc")


def xchacha20poly1305_seal(key, nonce24, plaintext, ad):
    sub = hchacha20(key, nonce24[:16])
    return ChaCha20Poly1305(sub).encrypt(b"\0\0\0\0" + nonce24[16:], plaintext, ad)


seal_key = bytes(range(0x80, 0xA0))
nonce = bytes(range(0x40, 0x58))
full_key = b"chat/msg-0001"
expiry = 1700000000123456789  # Unix nanoseconds
value = b"Ladies and Gentlemen of the class of '99"

header = bytes([1]) + struct.pack(">Q", expiry)
ad = b"discordopus/store/v1\0" + header + full_key
sealed = header + nonce + xchacha20poly1305_seal(seal_key, nonce, value, ad)

print("seal_key", seal_key.hex())
print("nonce", nonce.hex())
print("full_key", full_key.hex())
print("expiry", expiry)
print("value", value.hex())
print("sealed", sealed.hex())
