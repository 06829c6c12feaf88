package e2e

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
	"time"
)

func TestPrekeysMarshal(t *testing.T) {
	r := newSeededReader("prekeys")
	created := time.Date(2026, 1, 2, 3, 4, 5, 678, time.UTC)
	p, err := GeneratePrekeys(r, 42, created)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := p.MarshalBinary()
	if err != nil || len(raw) != prekeysSize {
		t.Fatalf("%d bytes, %v", len(raw), err)
	}
	q, err := ParsePrekeys(raw)
	if err != nil {
		t.Fatal(err)
	}
	if q.ID != 42 || !q.Created.Equal(created) || !bytes.Equal(q.X25519Public(), p.X25519Public()) || !bytes.Equal(q.KEMPublic(), p.KEMPublic()) {
		t.Fatal("round trip changed the prekeys")
	}
	for _, bad := range [][]byte{nil, raw[:prekeysSize-1], append(bytes.Clone(raw), 0), append([]byte{2}, raw[1:]...)} {
		if _, err := ParsePrekeys(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("parsed %d bytes: %v", len(bad), err)
		}
	}
	nsec := bytes.Clone(raw)
	binary.BigEndian.PutUint32(nsec[13:], 1e9)
	if _, err := ParsePrekeys(nsec); !errors.Is(err, ErrMalformed) {
		t.Errorf("nanoseconds out of range: %v", err)
	}
	p.Wipe()
	if _, err := p.MarshalBinary(); err == nil {
		t.Error("marshaled wiped prekeys")
	}
	if _, err := p.Bundle(newParty(t, "x", 0).local.Identity.Key, nil); err == nil {
		t.Error("bundle from wiped prekeys")
	}

	k, err := GenerateOneTimePrekey(r, 7)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ = k.MarshalBinary()
	k2, err := ParseOneTimePrekey(raw)
	if err != nil || k2.ID != 7 || !bytes.Equal(k2.Public().Key, k.Public().Key) {
		t.Fatalf("one-time round trip: %v", err)
	}
	if _, err := ParseOneTimePrekey(raw[1:]); !errors.Is(err, ErrMalformed) {
		t.Errorf("short one-time prekey: %v", err)
	}
}

func TestBundle(t *testing.T) {
	a := newParty(t, "alice", 0)
	r := newSeededReader("bundle")
	var ots []*OneTimePrekey
	for _, id := range []uint32{9, 3, 5} {
		k, _ := GenerateOneTimePrekey(r, id)
		ots = append(ots, k)
	}
	b, err := a.pre.signed[0].Bundle(a.local.Identity.Key, ots)
	if err != nil {
		t.Fatal(err)
	}
	if b.OneTime[0].ID != 3 || b.OneTime[2].ID != 9 {
		t.Fatal("one-time prekeys not sorted")
	}
	if err := b.Verify(); err != nil {
		t.Fatal(err)
	}
	raw, err := b.MarshalBinary()
	if err != nil || len(raw) != bundleFixedSize+3*bundleOneTimeSize {
		t.Fatalf("%d bytes, %v", len(raw), err)
	}
	c, err := ParseBundle(raw)
	if err != nil {
		t.Fatal(err)
	}
	raw2, _ := c.MarshalBinary()
	if !bytes.Equal(raw, raw2) || c.Verify() != nil {
		t.Fatal("round trip")
	}
	raw[40] ^= 1 // the parsed bundle does not alias its input
	if raw3, _ := c.MarshalBinary(); !bytes.Equal(raw2, raw3) {
		t.Fatal("parsed bundle aliases its input")
	}

	// Size limits.
	for len(ots) < MaxOneTimePrekeys {
		k, _ := GenerateOneTimePrekey(r, uint32(100+len(ots)))
		ots = append(ots, k)
	}
	full, err := a.pre.signed[0].Bundle(a.local.Identity.Key, ots)
	if err != nil {
		t.Fatal(err)
	}
	if raw, _ := full.MarshalBinary(); len(raw) != MaxBundleSize {
		t.Fatalf("full bundle of %d bytes, MaxBundleSize %d", len(raw), MaxBundleSize)
	}
	k, _ := GenerateOneTimePrekey(r, 1000)
	if _, err := a.pre.signed[0].Bundle(a.local.Identity.Key, append(ots, k)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("too many one-time prekeys: %v", err)
	}
	if _, err := a.pre.signed[0].Bundle(a.local.Identity.Key, []*OneTimePrekey{ots[0], ots[0]}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("duplicate one-time prekey: %v", err)
	}
}

// TestParseBundleStrict: every non-canonical or out-of-bounds encoding is
// refused.
func TestParseBundleStrict(t *testing.T) {
	a := newParty(t, "alice", 3)
	good, err := a.bundle(t).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	otOff := bundleFixedSize
	mut := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	cases := map[string][]byte{
		"empty":              nil,
		"version":            mut(func(b []byte) []byte { b[0] = 2; return b }),
		"one byte short":     good[:len(good)-1],
		"one byte long":      append(bytes.Clone(good), 0),
		"count too high":     mut(func(b []byte) []byte { b[bundleFixedSize-1] = 4; return b }),
		"count too low":      mut(func(b []byte) []byte { b[bundleFixedSize-1] = 2; return b }),
		"count over the max": mut(func(b []byte) []byte { b[bundleFixedSize-1] = MaxOneTimePrekeys + 1; return b }),
		"IDs not increasing": mut(func(b []byte) []byte {
			copy(b[otOff+bundleOneTimeSize:otOff+bundleOneTimeSize+4], b[otOff:otOff+4])
			return b
		}),
		"signed prekey >= p": mut(func(b []byte) []byte {
			copy(b[37:69], bytes.Repeat([]byte{0xff}, 32))
			b[68] = 0x7f
			return b
		}),
		"signed prekey top bit": mut(func(b []byte) []byte { b[68] |= 0x80; return b }),
		"one-time prekey >= p": mut(func(b []byte) []byte {
			copy(b[otOff+4:otOff+36], bytes.Repeat([]byte{0xff}, 32))
			b[otOff+35] = 0x7f
			return b
		}),
		"ML-KEM coefficient >= q": mut(func(b []byte) []byte { b[133], b[134] = 0xff, b[134]|0x0f; return b }),
		"too long to be a bundle": make([]byte, MaxBundleSize+1),
	}
	for name, b := range cases {
		if _, err := ParseBundle(b); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
	// Signatures are Verify's business, not ParseBundle's.
	b, err := ParseBundle(mut(func(b []byte) []byte { b[69] ^= 1; return b }))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Verify(); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("Verify: %v", err)
	}
}
