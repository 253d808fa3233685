package pinstore

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// AllIDs is the ID an invalidation callback gets when every cached entry
// must go: the PostgreSQL listener lost its connection and notifications
// may have been missed.
const AllIDs = ""

// listenPing is how often an idle listener checks its connection.
const listenPing = 5 * time.Second

// startListen opens the LISTEN connection (PostgreSQL) and starts the
// goroutine, stopped by Close, that turns each notification of the patrons
// trigger into the OnInvalidate callbacks.
func (s *Store) startListen(ctx context.Context) error {
	conn, err := s.listenConn(ctx)
	if err != nil {
		return s.dbErr("listen", err)
	}
	lctx, cancel := context.WithCancel(context.Background())
	s.stopWatch, s.watchDone = cancel, make(chan struct{})
	go s.listen(lctx, conn)
	return nil
}

// listenConn connects and runs LISTEN.
func (s *Store) listenConn(ctx context.Context) (*pgx.Conn, error) {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(cctx, s.dsn)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(cctx, "LISTEN "+NotifyChannel); err != nil {
		conn.Close(context.Background())
		return nil, err
	}
	return conn, nil
}

// listen delivers notifications; on a broken connection it reconnects
// (backing off up to 2 s) and then calls the callbacks with AllIDs, since
// changes committed meanwhile were not heard.
func (s *Store) listen(ctx context.Context, conn *pgx.Conn) {
	defer close(s.watchDone)
	defer func() {
		if conn != nil {
			conn.Close(context.Background())
		}
	}()
	backoff := 100 * time.Millisecond
	for {
		if conn == nil {
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			c, err := s.listenConn(ctx)
			if err != nil {
				backoff = min(2*backoff, 2*time.Second)
				continue
			}
			conn, backoff = c, 100*time.Millisecond
			s.log.Info("pinstore: listener reconnected; dropping every cached entry")
			s.dropIdleConns()
			s.notify(AllIDs)
		}
		wctx, cancel := context.WithTimeout(ctx, listenPing)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			s.notify(n.Payload)
			continue
		case ctx.Err() != nil:
			return
		case errors.Is(err, context.DeadlineExceeded) && !conn.IsClosed():
			pctx, pcancel := context.WithTimeout(ctx, listenPing)
			err = conn.Ping(pctx)
			pcancel()
			if err == nil {
				continue
			}
		}
		if ctx.Err() != nil {
			return
		}
		s.log.Warn("pinstore: listener lost its connection; reconnecting", "err", err)
		conn.Close(context.Background())
		conn = nil
		s.dropIdleConns()
	}
}

// dropIdleConns closes the pool's idle connections: after the listener's
// connection broke (a database restart, a failover) they are most likely
// dead too, and database/sql would otherwise hand each out once more.
func (s *Store) dropIdleConns() {
	s.w.SetMaxIdleConns(0)
	s.w.SetMaxIdleConns(s.d.pool)
}
