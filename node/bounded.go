package node

import (
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// putBounded sets m[p] = v in a map that holds at most max peers: a new
// peer past the bound makes room by evicting the one whose time (at) is
// oldest. The node's per-peer books (LAN addresses, observed addresses,
// cut circuits) are fed by the network, so each is bounded this way.
func putBounded[V any](m map[peer.ID]V, p peer.ID, v V, max int, at func(V) time.Time) {
	if _, ok := m[p]; !ok && len(m) >= max {
		var oldest peer.ID
		for q, w := range m {
			if oldest == "" || at(w).Before(at(m[oldest])) {
				oldest = q
			}
		}
		delete(m, oldest)
	}
	m[p] = v
}
