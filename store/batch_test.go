package store

import (
	"errors"
	"testing"
)

func TestBatchIsAllOrNothing(t *testing.T) {
	s := openTest(t, Options{})
	a, b := s.Namespace("a"), s.Namespace("b")
	mustPut(t, a, "gone", "x")

	err := s.Write(true, func(w *Batch) error {
		if err := w.Put(a, []byte("k"), []byte("1")); err != nil {
			return err
		}
		if err := w.Put(b, []byte("k"), []byte("2")); err != nil {
			return err
		}
		return w.Delete(a, []byte("gone"))
	})
	if err != nil {
		t.Fatalf("Write: %v", err)
	}
	for _, c := range []struct {
		n    *Namespace
		k, v string
	}{{a, "k", "1"}, {b, "k", "2"}} {
		if got, err := c.n.Get([]byte(c.k)); err != nil || string(got) != c.v {
			t.Errorf("%s/%s = %q, %v; want %q", c.n.Name(), c.k, got, err, c.v)
		}
	}
	if _, err := a.Get([]byte("gone")); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleted key: %v, want ErrNotFound", err)
	}

	boom := errors.New("boom")
	err = s.Write(false, func(w *Batch) error {
		if err := w.Put(a, []byte("half"), []byte("x")); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Write = %v, want fn's error", err)
	}
	if _, err := a.Get([]byte("half")); !errors.Is(err, ErrNotFound) {
		t.Errorf("write of a failed batch is visible: %v", err)
	}

	other := openTest(t, Options{})
	err = s.Write(false, func(w *Batch) error { return w.Put(other.Namespace("a"), []byte("k"), []byte("v")) })
	if err == nil {
		t.Error("a batch accepted a namespace of another store")
	}
}
