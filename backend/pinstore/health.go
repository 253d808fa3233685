package pinstore

import (
	"context"
	"fmt"
)

// Ping checks that the database answers a query (for /readyz).
func (s *Store) Ping(ctx context.Context) error {
	var n int
	if err := s.r.QueryRowContext(ctx, "SELECT 1").Scan(&n); err != nil {
		return fmt.Errorf("pinstore: ping: %w", err)
	}
	return nil
}

// Lockouts is how many accounts this process has locked since it opened
// the store (for the lockouts_total metric).
func (s *Store) Lockouts() uint64 { return s.lockouts.Load() }
