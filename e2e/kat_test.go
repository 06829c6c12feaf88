package e2e

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math/big"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

func readVectors(tb testing.TB, name string, v any) {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		tb.Fatalf("%s: %v", name, err)
	}
}

// djb strips the 0x05 type byte of libsignal's serialized Curve25519 keys.
func djb(tb testing.TB, s string) []byte {
	tb.Helper()
	b := unhex(tb, s)
	if len(b) != 33 || b[0] != 0x05 {
		tb.Fatalf("not a libsignal public key: %s", s)
	}
	return b[1:]
}

func x25519Key(tb testing.TB, s string) *ecdh.PrivateKey {
	tb.Helper()
	k, err := ecdh.X25519().NewPrivateKey(unhex(tb, s))
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// TestLibsignalChainKeys: our chain KDF and message-key derivation against
// libsignal's known answers.
func TestLibsignalChainKeys(t *testing.T) {
	var v struct {
		ChainKeys []struct {
			Source       string
			Seed         string
			CipherKey    string `json:"cipher_key"`
			MacKey       string `json:"mac_key"`
			NextChainKey string `json:"next_chain_key"`
		} `json:"chain_keys"`
	}
	readVectors(t, "ratchet_libsignal.json", &v)
	if len(v.ChainKeys) == 0 {
		t.Fatal("no vectors")
	}
	h := newHMAC()
	for _, c := range v.ChainKeys {
		ck := [32]byte(unhex(t, c.Seed))
		seed, next := h.chainStep(&ck)
		ckey, mkey := h.messageKeys(&seed)
		if hex.EncodeToString(ckey[:]) != c.CipherKey || hex.EncodeToString(mkey[:]) != c.MacKey ||
			hex.EncodeToString(next[:]) != c.NextChainKey {
			t.Errorf("%s:\n cipher %x\n mac    %x\n next   %x", c.Source, ckey, mkey, next)
		}
	}
}

// TestLibsignalInitialChainKeys: the X3DH secret input (0xFF*32 || DH1 ||
// DH2 || DH3) computed with our dh from libsignal's keys, through our
// deriveRootChain with libsignal's "WhisperText" label, gives libsignal's
// chain key, from Bob's private keys and from Alice's.
func TestLibsignalInitialChainKeys(t *testing.T) {
	var v struct {
		Initial []map[string]string `json:"initial_chain_keys"`
	}
	readVectors(t, "ratchet_libsignal.json", &v)
	if len(v.Initial) == 0 {
		t.Fatal("no vectors")
	}
	for _, c := range v.Initial {
		var pairs [3]struct {
			priv string
			pub  string
		}
		switch c["side"] {
		case "bob":
			pairs[0].priv, pairs[0].pub = c["bob_signed_prekey_private"], c["alice_identity_public"]
			pairs[1].priv, pairs[1].pub = c["bob_identity_private"], c["alice_base_public"]
			pairs[2].priv, pairs[2].pub = c["bob_signed_prekey_private"], c["alice_base_public"]
		case "alice":
			pairs[0].priv, pairs[0].pub = c["alice_identity_private"], c["bob_signed_prekey_public"]
			pairs[1].priv, pairs[1].pub = c["alice_base_private"], c["bob_identity_public"]
			pairs[2].priv, pairs[2].pub = c["alice_base_private"], c["bob_signed_prekey_public"]
		default:
			t.Fatalf("%s: side %q", c["source"], c["side"])
		}
		secret := bytes.Repeat([]byte{0xff}, 32)
		for _, p := range pairs {
			s, err := dh(x25519Key(t, p.priv), djb(t, p.pub))
			if err != nil {
				t.Fatal(err)
			}
			secret = append(secret, s...)
		}
		_, ck := deriveRootChain(secret, labelText)
		if got := hex.EncodeToString(ck[:]); got != c["expected_chain_key"] {
			t.Errorf("%s: chain key %s, want %s", c["source"], got, c["expected_chain_key"])
		}
	}
}

// TestLibsignalRootKeyV2: libsignal-protocol-c's only root-key vector uses
// its HKDF version 2 (expand counter from 0 instead of RFC 5869's 1) and an
// unclamped private key (the flaw libsignal fixed in its Rust port of the
// same Java test, commit a280bc6): RFC 7748 X25519, which crypto/ecdh
// implements, clamps and cannot reproduce it. So this test computes the DH
// with an unclamped Montgomery ladder and the expand with counter 0, and
// checks the construction of our root KDF: HKDF-Extract(salt = root key,
// ikm = DH) with "WhisperRatchet", split 32/32. rootStep's RFC 5869 expand
// is crypto/hkdf, checked by TestHKDFRFC5869.
func TestLibsignalRootKeyV2(t *testing.T) {
	var v struct {
		Root []struct {
			Source       string
			RootKey      string `json:"root_key"`
			OurPrivate   string `json:"our_private"`
			TheirPublic  string `json:"their_public"`
			NextRootKey  string `json:"next_root_key"`
			NextChainKey string `json:"next_chain_key"`
		} `json:"root_keys_hkdf_v2"`
	}
	readVectors(t, "ratchet_libsignal.json", &v)
	if len(v.Root) == 0 {
		t.Fatal("no vectors")
	}
	for _, c := range v.Root {
		s := x25519Unclamped(unhex(t, c.OurPrivate), djb(t, c.TheirPublic))
		prk, _ := hkdf.Extract(sha256.New, s, unhex(t, c.RootKey))
		var okm, prev []byte
		for i := 0; len(okm) < 64; i++ { // v2: T(i) = HMAC(PRK, T(i-1) || info || i), i from 0
			m := hmac.New(sha256.New, prk)
			m.Write(prev)
			m.Write([]byte(labelRatchet))
			m.Write([]byte{byte(i)})
			prev = m.Sum(nil)
			okm = append(okm, prev...)
		}
		if hex.EncodeToString(okm[:32]) != c.NextRootKey || hex.EncodeToString(okm[32:64]) != c.NextChainKey {
			t.Errorf("%s: root %x chain %x", c.Source, okm[:32], okm[32:64])
		}
		// Same inputs through rootStep (RFC 5869) must agree with crypto/hkdf.
		rk := [32]byte(unhex(t, c.RootKey))
		nrk, ck, nhk := rootStep(&rk, s)
		want, _ := hkdf.Key(sha256.New, s, rk[:], labelRatchet, 64)
		wantHK, _ := hkdf.Key(sha256.New, s, rk[:], labelHeaderKey, 32)
		if !bytes.Equal(nrk[:], want[:32]) || !bytes.Equal(ck[:], want[32:]) || !bytes.Equal(nhk[:], wantHK) {
			t.Error("rootStep disagrees with HKDF")
		}
	}
}

// TestHKDFRFC5869 checks the HKDF we build on (crypto/hkdf, and our
// allocation-free HMAC for the no-salt extract) against RFC 5869.
func TestHKDFRFC5869(t *testing.T) {
	var v struct {
		HKDF []struct{ Source, IKM, Salt, Info, PRK, OKM string } `json:"hkdf_sha256"`
	}
	readVectors(t, "kdf_rfc.json", &v)
	for _, c := range v.HKDF {
		okm := unhex(t, c.OKM)
		prk, _ := hkdf.Extract(sha256.New, unhex(t, c.IKM), unhex(t, c.Salt))
		got, _ := hkdf.Key(sha256.New, unhex(t, c.IKM), unhex(t, c.Salt), string(unhex(t, c.Info)), len(okm))
		if hex.EncodeToString(prk) != c.PRK || !bytes.Equal(got, okm) {
			t.Errorf("%s: prk %x okm %x", c.Source, prk, got)
		}
		if c.Salt == "" { // our fast no-salt extract
			h := newHMAC()
			h.msg = append(h.msg[:0], unhex(t, c.IKM)...)
			var p [32]byte
			h.sumWith(zeroKeyIn, zeroKeyOut, &p)
			if hex.EncodeToString(p[:]) != c.PRK {
				t.Errorf("%s: fast extract %x", c.Source, p)
			}
		}
	}
}

// TestHMACRFC4231 checks our allocation-free HMAC against RFC 4231 and
// against crypto/hmac on random keys and messages of every length from 0 to
// 100 bytes (both the one-block fast path and the Sum fallback).
func TestHMACRFC4231(t *testing.T) {
	if !fastFinish {
		t.Error("fast finish disabled: the marshaled SHA-256 state changed layout")
	}
	var v struct {
		HMAC []struct{ Source, Key, Data, Mac string } `json:"hmac_sha256"`
	}
	readVectors(t, "kdf_rfc.json", &v)
	h := newHMAC()
	var out [32]byte
	for _, c := range v.HMAC {
		h.setKey(unhex(t, c.Key))
		h.msg = append(h.msg[:0], unhex(t, c.Data)...)
		h.sum(&out)
		if hex.EncodeToString(out[:]) != c.Mac {
			t.Errorf("%s: %x", c.Source, out)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for n := 0; n <= 100; n++ {
		key := make([]byte, 1+r.IntN(64))
		msg := make([]byte, n)
		for i := range key {
			key[i] = byte(r.Uint32())
		}
		for i := range msg {
			msg[i] = byte(r.Uint32())
		}
		h.setKey(key)
		h.msg = append(h.msg[:0], msg...)
		h.sum(&out)
		m := hmac.New(sha256.New, key)
		m.Write(msg)
		if !bytes.Equal(out[:], m.Sum(nil)) {
			t.Fatalf("HMAC mismatch for key %d bytes, message %d bytes", len(key), n)
		}
	}
}

// TestIdentityConversion: the X25519 public key converted from an Ed25519
// public key equals the one of the X25519 private key converted from the
// Ed25519 private key; invalid encodings are rejected.
func TestIdentityConversion(t *testing.T) {
	r := newSeededReader("conversion")
	for range 200 {
		seed := make([]byte, 32)
		r.Read(seed)
		k := ed25519.NewKeyFromSeed(seed)
		priv, err := identityX25519Private(k)
		if err != nil {
			t.Fatal(err)
		}
		pub, err := identityX25519Public(k.Public().(ed25519.PublicKey))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(priv.PublicKey().Bytes(), pub.Bytes()) {
			t.Fatalf("conversion mismatch for seed %x", seed)
		}
	}
	le := func(s string) []byte { // hex, big-endian y, to little-endian encoding
		b := unhex(t, s)
		for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
			b[i], b[j] = b[j], b[i]
		}
		return b
	}
	p := "7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffed"
	bad := map[string][]byte{
		"y = p (non-canonical)":    le(p),
		"y = 1 (neutral element)":  le("0000000000000000000000000000000000000000000000000000000000000001"),
		"y = 2 (not on the curve)": le("0000000000000000000000000000000000000000000000000000000000000002"),
		"x = 0 with the sign bit": func() []byte {
			b := le("0000000000000000000000000000000000000000000000000000000000000001")
			b[31] |= 0x80
			return b
		}(),
		"y = p-1, x = 0, sign bit": func() []byte {
			b := le("7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffec")
			b[31] |= 0x80
			return b
		}(),
		"wrong length": make([]byte, 31),
	}
	for name, b := range bad {
		if _, err := identityX25519Public(ed25519.PublicKey(b)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// y = p-1 without the sign bit is the point (0, -1) of order 2: it
	// converts (u = 0) but any DH with it is all zeros and rejected.
	u, err := identityX25519Public(ed25519.PublicKey(le("7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffec")))
	if err != nil {
		t.Fatal(err)
	}
	k, _ := identityX25519Private(ed25519.NewKeyFromSeed(make([]byte, 32)))
	if _, err := dh(k, u.Bytes()); err == nil {
		t.Error("DH with a low-order identity accepted")
	}
}

// x25519Unclamped is the RFC 7748 Montgomery ladder without clamping the
// scalar, for libsignal-protocol-c's v2 root-key vector only.
func x25519Unclamped(k, u []byte) []byte {
	le := func(b []byte) *big.Int {
		r := make([]byte, len(b))
		for i := range b {
			r[len(b)-1-i] = b[i]
		}
		return new(big.Int).SetBytes(r)
	}
	p := fieldP
	mod := func(x *big.Int) *big.Int { return x.Mod(x, p) }
	mul := func(a, b *big.Int) *big.Int { return mod(new(big.Int).Mul(a, b)) }
	add := func(a, b *big.Int) *big.Int { return mod(new(big.Int).Add(a, b)) }
	sub := func(a, b *big.Int) *big.Int { return mod(new(big.Int).Sub(a, b)) }
	kk := le(k)
	ub := bytes.Clone(u)
	ub[31] &= 0x7f
	x1 := le(ub)
	x2, z2, x3, z3 := big.NewInt(1), big.NewInt(0), new(big.Int).Set(x1), big.NewInt(1)
	swap := uint(0)
	a24 := big.NewInt(121665)
	for t := 254; t >= 0; t-- {
		kt := kk.Bit(t)
		if swap^kt == 1 {
			x2, x3, z2, z3 = x3, x2, z3, z2
		}
		swap = kt
		A, B := add(x2, z2), sub(x2, z2)
		AA, BB := mul(A, A), mul(B, B)
		E := sub(AA, BB)
		C, D := add(x3, z3), sub(x3, z3)
		DA, CB := mul(D, A), mul(C, B)
		x3 = mul(add(DA, CB), add(DA, CB))
		z3 = mul(x1, mul(sub(DA, CB), sub(DA, CB)))
		x2 = mul(AA, BB)
		z2 = mul(E, add(AA, mul(a24, E)))
	}
	if swap == 1 {
		x2, z2 = x3, z3
	}
	r := mul(x2, new(big.Int).Exp(z2, new(big.Int).Sub(p, big.NewInt(2)), p))
	out := make([]byte, 32)
	r.FillBytes(out)
	for i, j := 0, 31; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}
