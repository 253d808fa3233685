package ldapbackend

import (
	"context"
	"time"
)

// health runs the health check until ctx ends: at once, then every
// HealthInterval.
func (b *Backend) health(ctx context.Context) {
	defer close(b.healthDone)
	t := time.NewTicker(b.s.HealthInterval)
	defer t.Stop()
	for {
		b.CheckHealth(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// CheckHealth pings the directory (updating State) and, when it answers,
// fills each pool up to MinIdle idle connections. The health check calls
// it; it returns the Ping error.
func (b *Backend) CheckHealth(ctx context.Context) error {
	if err := b.Ping(ctx); err != nil {
		if ctx.Err() == nil {
			b.s.Logger.Warn("ldap health check failed", "backend", b.s.Name, "err", err)
		}
		return err
	}
	for _, p := range []*pool{b.service, b.binds} {
		wctx, cancel := context.WithTimeout(ctx, b.s.Timeout)
		err := p.warm(wctx, b.s.minIdle)
		cancel()
		if err != nil && ctx.Err() == nil {
			b.s.Logger.Warn("ldap pool warm-up failed", "backend", b.s.Name, "pool", p.kind, "err", err)
		}
	}
	return nil
}

// IdleConns returns the idle connections of the service and bind pools.
func (b *Backend) IdleConns() (service, bind int) {
	return b.service.idleCount(), b.binds.idleCount()
}
