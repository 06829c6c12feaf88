package e2e

import (
	"testing"
	"time"

	"golang.org/x/crypto/chacha20poly1305"
)

// rawXChaCha measures the baseline: XChaCha20-Poly1305 seal and open of a
// 1 KiB message under a fixed key, as a transport with no ratchet would.
type rawXChaCha struct {
	pt, nonce, ct, out []byte
	aead               interface {
		Seal(dst, nonce, plaintext, ad []byte) []byte
		Open(dst, nonce, ciphertext, ad []byte) ([]byte, error)
	}
}

func newRawXChaCha() *rawXChaCha {
	a, _ := chacha20poly1305.NewX(make([]byte, 32))
	return &rawXChaCha{pt: make([]byte, 1024), nonce: make([]byte, 24), ct: make([]byte, 0, 2048), out: make([]byte, 0, 2048), aead: a}
}

func (r *rawXChaCha) run() {
	r.nonce[0]++
	r.ct = r.aead.Seal(r.ct[:0], r.nonce, r.pt, nil)
	var err error
	if r.out, err = r.aead.Open(r.out[:0], r.nonce, r.ct, nil); err != nil {
		panic(err)
	}
}

// benchRatio runs ours and the baseline interleaved in chunks, so that both
// see the same machine load, and reports ours per message, the baseline per
// message, and ratio = baseline/ours (1 would mean no cost over raw AEAD).
func benchRatio(b *testing.B, ours func()) {
	raw := newRawXChaCha()
	const chunk = 32
	var tOurs, tRaw time.Duration
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		if n%chunk == 0 {
			start := time.Now()
			for range chunk {
				raw.run()
			}
			tRaw += time.Since(start)
		}
		start := time.Now()
		ours()
		tOurs += time.Since(start)
		n++
	}
	rawOps := ((n + chunk - 1) / chunk) * chunk
	oursNs := float64(tOurs.Nanoseconds()) / float64(n)
	rawNs := float64(tRaw.Nanoseconds()) / float64(rawOps)
	b.ReportMetric(oursNs, "ns/msg")
	b.ReportMetric(rawNs, "raw-ns/msg")
	b.ReportMetric(rawNs/oursNs, "ratio")
}

func benchPair(b *testing.B) (a, c *party, sa, sc *Session) {
	a, c = newParty(b, "alice", 0), newParty(b, "bob", 0)
	sa, sc = pair(b, a, c)
	return a, c, sa, sc
}

// BenchmarkEncryptDecrypt1KiB: encrypt plus decrypt of a 1 KiB message.
// "stream" sends in one direction (symmetric ratchet only); "pingpong"
// alternates directions, so every message carries a DH ratchet step.
func BenchmarkEncryptDecrypt1KiB(b *testing.B) {
	pt := make([]byte, 1024)
	b.Run("stream", func(b *testing.B) {
		a, c, sa, sc := benchPair(b)
		benchRatio(b, func() {
			m, err := sa.Encrypt(a.local, pt, t0)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := sc.Decrypt(c.local, m, t0); err != nil {
				b.Fatal(err)
			}
		})
	})
	b.Run("pingpong", func(b *testing.B) {
		a, c, sa, sc := benchPair(b)
		turn := false
		benchRatio(b, func() {
			from, to, sf, st := a, c, sa, sc
			if turn {
				from, to, sf, st = c, a, sc, sa
			}
			turn = !turn
			m, err := sf.Encrypt(from.local, pt, t0)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := st.Decrypt(to.local, m, t0); err != nil {
				b.Fatal(err)
			}
		})
	})
}

// BenchmarkSessionSetup: NewSession, the first (initial) Encrypt and Accept.
func BenchmarkSessionSetup(b *testing.B) {
	a, c := newParty(b, "alice", 0), newParty(b, "bob", 0)
	bundle := c.bundle(b)
	pt := make([]byte, 1024)
	b.ReportAllocs()
	for b.Loop() {
		s, err := NewSession(a.local, c.peer(), bundle, t0)
		if err != nil {
			b.Fatal(err)
		}
		m, err := s.Encrypt(a.local, pt, t0)
		if err != nil {
			b.Fatal(err)
		}
		if _, _, _, err := Accept(c.local, m, t0); err != nil {
			b.Fatal(err)
		}
	}
}
