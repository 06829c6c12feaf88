package keystore

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzDecode feeds arbitrary bytes to the keystore file decoder and, when
// they decode, to the AEAD under the known-answer vector's KEK (Argon2 is too
// slow to fuzz through). Seeds: testdata/fuzz/FuzzDecode.
//
// The decoder must never panic, must refuse with one of its sentinel errors,
// and must accept only what it would itself write; the only input that opens
// under the KEK is the vector's own file.
func FuzzDecode(f *testing.F) {
	v := loadKAT(f)
	kek := unhex(f, v.KEK)
	f.Add(v.file)
	f.Fuzz(func(t *testing.T, data []byte) {
		h, ad, ct, err := decodeFile(data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnsupportedVersion) && !errors.Is(err, ErrWeakParams) {
				t.Fatalf("decode error %v matches no sentinel", err)
			}
			return
		}
		if len(data) != fileLen || len(ad) != headerLen || len(ct) != ciphertextLen {
			t.Fatalf("accepted %d bytes (ad %d, ciphertext %d)", len(data), len(ad), len(ct))
		}
		if h.params.check() != nil {
			t.Fatalf("accepted parameters %+v", h.params)
		}
		if re := appendHeader(nil, h); !bytes.Equal(re, ad) {
			t.Fatalf("header does not re-encode to itself:\n got %x\nwant %x", re, ad)
		}
		pt, err := unseal(h, ad, ct, kek)
		if err == nil && !bytes.Equal(data, v.file) {
			t.Fatalf("a file other than the vector opened under its KEK: %x -> %x", data, pt)
		}
		if err != nil && !errors.Is(err, ErrWrongPassphrase) {
			t.Fatalf("unseal: %v, want ErrWrongPassphrase", err)
		}
	})
}
