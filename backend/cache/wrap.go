package cache

import (
	"context"

	"github.com/bindery/bindery/backend"
)

// Wrap returns a Cache in front of next as an Authenticator whose method
// set has exactly the optional interfaces next has (PasswordChanger,
// PatronChecker), so that the proxy's type assertions answer as they would
// on next itself. ChangePassword goes to next and then invalidates the ID;
// CheckPatron goes to next.
func Wrap(name string, next backend.Authenticator, opts Options) backend.Authenticator {
	c := New(name, next, opts)
	pc, isChanger := next.(backend.PasswordChanger)
	pk, isChecker := next.(backend.PatronChecker)
	switch {
	case isChanger && isChecker:
		return &changerChecker{Cache: c, changer: changer{c, pc}, checker: checker{pk}}
	case isChanger:
		return &changerOnly{Cache: c, changer: changer{c, pc}}
	case isChecker:
		return &checkerOnly{Cache: c, checker: checker{pk}}
	}
	return c
}

// Of returns the Cache inside a value Wrap returned, or nil.
func Of(a backend.Authenticator) *Cache {
	if h, ok := a.(interface{ cache() *Cache }); ok {
		return h.cache()
	}
	return nil
}

func (c *Cache) cache() *Cache { return c }

type changer struct {
	c  *Cache
	pc backend.PasswordChanger
}

// ChangePassword changes the password in the backend and drops the ID's
// cached entries whatever the outcome (a wrong old password may have
// locked the account).
func (w changer) ChangePassword(ctx context.Context, req backend.PasswordChange) (string, error) {
	defer w.c.Invalidate(req.ID)
	return w.pc.ChangePassword(ctx, req)
}

type checker struct{ pk backend.PatronChecker }

// CheckPatron asks the backend.
func (w checker) CheckPatron(ctx context.Context, id string) (backend.Reason, bool, error) {
	return w.pk.CheckPatron(ctx, id)
}

type changerChecker struct {
	*Cache
	changer
	checker
}

type changerOnly struct {
	*Cache
	changer
}

type checkerOnly struct {
	*Cache
	checker
}
