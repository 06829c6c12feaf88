package chat

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/ping"
	mss "github.com/multiformats/go-multistream"
)

// liveTimeout bounds one connection's liveness ping; a var for tests.
var liveTimeout = 5 * time.Second

// checkConns pings each connection to p but skip, each on its own, and
// closes those that give no answer within liveTimeout.
//
// A connection can die silently: a home router that gets a new public
// address, or a laptop that changes networks, drops it without a word to
// either end, and libp2p notices only when its keepalives time out, half
// a minute or more later. Until then what we send goes into a dead
// stream, and libp2p keeps choosing the dead connection for new streams
// (a direct one is preferred to the relayed one that replaced it). So the
// chat checks when it has reason to doubt: an acknowledgement overdue
// (skip is nil), or the contact dialling us anew while we thought we
// were connected (skip is the new connection). Each connection is pinged
// itself, not whichever libp2p would pick; a ping that fails at once
// (refused, reset) proves the connection carries answers, and it is kept.
// If the conversation's stream was on a closed connection, it goes too,
// and what it carried is sent again at once, on a stream where it works or
// to the mailbox.
func (s *Service) checkConns(ctx context.Context, cv *conv, p peer.ID, skip network.Conn) {
	var wg sync.WaitGroup
	for _, c := range s.o.Host.Network().ConnsToPeer(p) {
		if c == skip {
			continue
		}
		wg.Go(func() {
			err := pingConn(ctx, c)
			if err == nil || ctx.Err() != nil || !isTimeout(err) {
				return
			}
			s.log.Info("a connection to a contact stopped answering; closing it", "peer", p, "addr", c.RemoteMultiaddr(), "err", err)
			c.Close()
			if cv == nil {
				return
			}
			cv.mu.Lock()
			onIt := cv.out != nil && cv.out.Conn() == c
			if onIt {
				// What went out on it is lost with it: send it again
				// now, on a stream that works (the contact deduplicates).
				cv.closeStream()
				clear(cv.sentAt)
			}
			cv.mu.Unlock()
			if onIt {
				s.kick(cv)
			}
		})
	}
	wg.Wait()
}

// pingConn runs libp2p's ping protocol once on c itself, within
// liveTimeout.
func pingConn(ctx context.Context, c network.Conn) error {
	ctx, cancel := context.WithTimeout(network.WithAllowLimitedConn(ctx, "chat liveness"), liveTimeout)
	defer cancel()
	st, err := c.NewStream(ctx)
	if err != nil {
		return err
	}
	defer st.Reset()
	stop := context.AfterFunc(ctx, func() { st.SetDeadline(time.Now()) })
	defer stop()
	if err := st.SetProtocol(ping.ID); err != nil {
		return err
	}
	if err := mss.SelectProtoOrFail(ping.ID, st); err != nil {
		return err
	}
	out := make([]byte, ping.PingSize)
	rand.Read(out)
	if _, err := st.Write(out); err != nil {
		return err
	}
	in := make([]byte, ping.PingSize)
	if _, err := io.ReadFull(st, in); err != nil {
		return err
	}
	if !bytes.Equal(in, out) {
		return errors.New("ping answered with other bytes")
	}
	return nil
}

// isTimeout says whether err is a deadline passing, not an answer. (The
// muxers report one as a net.Error, yamux without os.ErrDeadlineExceeded.)
func isTimeout(err error) bool {
	var te interface{ Timeout() bool }
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &te) && te.Timeout()
}
