package pinstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// DefaultWatchInterval is how often WatchChanges polls for other processes'
// changes.
const DefaultWatchInterval = 250 * time.Millisecond

// pruneEvery and keepChanges: rows of the changes table older than a day
// are deleted, at most every ten minutes.
const (
	pruneEvery  = 10 * time.Minute
	keepChanges = 24 * time.Hour
)

// OnInvalidate registers fn to be called with an ID each time that
// account's generation changes (PIN change, set, reset, unlock, lock after
// failures, suspend, resume, expire, update, delete, card replacement —
// both numbers —, import, add): at once for changes made through this
// Store, and within WatchInterval for changes committed by other processes
// when Options.WatchChanges is set (backend.Invalidator). fn must be quick.
func (s *Store) OnInvalidate(fn func(id string)) {
	s.lmu.Lock()
	defer s.lmu.Unlock()
	s.listeners = append(s.listeners, fn)
}

// notify calls the listeners for each ID, after the commit.
func (s *Store) notify(ids ...string) {
	s.lmu.Lock()
	ls := s.listeners
	s.lmu.Unlock()
	for _, id := range ids {
		for _, fn := range ls {
			fn(id)
		}
	}
}

// startWatch begins polling the changes table on one dedicated reader
// connection (PRAGMA data_version is per connection: it changes when
// another connection committed).
func (s *Store) startWatch(ctx context.Context, every time.Duration) error {
	if every <= 0 {
		every = DefaultWatchInterval
	}
	conn, err := s.r.Conn(ctx)
	if err != nil {
		return s.dbErr("watch changes", err)
	}
	var last int64
	if err := conn.QueryRowContext(ctx, s.d.rebind(qMaxChange)).Scan(&last); err != nil {
		conn.Close()
		return s.dbErr("watch changes", err)
	}
	wctx, cancel := context.WithCancel(context.Background())
	s.stopWatch, s.watchDone = cancel, make(chan struct{})
	go s.watch(wctx, conn, every, last)
	return nil
}

func (s *Store) watch(ctx context.Context, conn *sql.Conn, every time.Duration, last int64) {
	defer close(s.watchDone)
	defer conn.Close()
	t := time.NewTicker(every)
	defer t.Stop()
	var version int64 = -1
	lastPrune := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var v int64
		if err := conn.QueryRowContext(ctx, "PRAGMA data_version").Scan(&v); err != nil {
			if ctx.Err() == nil {
				s.log.Warn("pinstore: watch changes", "err", err)
			}
			continue
		}
		if v != version {
			version = v
			next, err := s.pollChanges(ctx, conn, last)
			if err != nil {
				if ctx.Err() == nil {
					s.log.Warn("pinstore: watch changes", "err", err)
				}
				version = -1 // try again next tick
			}
			last = next
		}
		if time.Since(lastPrune) >= pruneEvery {
			lastPrune = time.Now()
			if _, err := s.w.ExecContext(ctx, s.d.rebind(qPruneChanges), time.Now().Add(-keepChanges).UnixMilli()); err != nil && ctx.Err() == nil {
				s.log.Warn("pinstore: prune changes", "err", err)
			}
		}
	}
}

// pollChanges fires the listeners for the rows after seq last and returns
// the last seq seen.
func (s *Store) pollChanges(ctx context.Context, conn *sql.Conn, last int64) (int64, error) {
	for {
		rows, err := conn.QueryContext(ctx, s.d.rebind(qSelectChanges), last)
		if err != nil {
			return last, fmt.Errorf("select changes: %w", err)
		}
		var ids []string
		for rows.Next() {
			var seq int64
			var id string
			if err := rows.Scan(&seq, &id); err != nil {
				rows.Close()
				s.notify(ids...)
				return last, err
			}
			last = seq
			ids = append(ids, id)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return last, err
		}
		s.notify(ids...)
		if len(ids) < 1000 {
			return last, nil
		}
	}
}

// hashing runs fn (argon2id or legacy hashing) in the hash pool, in the
// turn of the client address it is done for ("" for staff); the error,
// when hashing is too busy, wraps backend.ErrBusy.
func (s *Store) hashing(ctx context.Context, op, client string, fn func()) error {
	if err := s.pool.Do(ctx, client, fn); err != nil {
		return fmt.Errorf("pinstore: %s: %w", op, err)
	}
	return nil
}
