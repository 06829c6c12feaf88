package node

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// registerMetrics adds the node's own gauges next to libp2p's metrics.
func (n *Node) registerMetrics(reg *prometheus.Registry) {
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "discordopus", Name: "connected_peers",
			Help: "Peers with at least one open connection.",
		}, func() float64 { return float64(len(n.host.Network().Peers())) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "discordopus", Subsystem: "dht", Name: "routing_table_peers",
			Help: "Peers in the DHT routing table.",
		}, func() float64 { return float64(n.dht.RoutingTableSize()) }),
	)
}

// serveMetrics serves /metrics on the configured address until ctx ends.
func (n *Node) serveMetrics(ctx context.Context) error {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(n.registry, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	if err := srv.Serve(n.metrics); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
