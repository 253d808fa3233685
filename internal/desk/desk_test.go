package desk

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bindery/bindery/backend"
	"github.com/bindery/bindery/backend/pinstore"
	"github.com/bindery/bindery/internal/config"
	"github.com/bindery/bindery/internal/passhash"
)

const cfgText = `
[server]
suffix = "dc=library,dc=example,dc=edu"

[[route]]
name = "julac"
match = '^(CU|BU)[0-9]{4,12}$'
case = "upper"
backend = "pins"

[[route]]
name = "campus"
match = '^[a-z][a-z0-9]{1,15}$'
case = "lower"
backend = "campus"
require_patron = true

[backend.campus]
type = "ldap"
urls = ["ldap://127.0.0.1:1"]
base_dn = "ou=people,dc=example,dc=org"

[backend.pins]
type = "pinstore"
driver = "sqlite"
dsn = "unused"
`

func newDesk(t *testing.T) (*Desk, *pinstore.Store) {
	t.Helper()
	cfg, err := config.Parse([]byte(cfgText))
	if err != nil {
		t.Fatal(err)
	}
	st, err := pinstore.Open(context.Background(), pinstore.Options{
		DSN: filepath.Join(t.TempDir(), "pins.db"), Hash: passhash.Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	opened := 0
	d := &Desk{Config: cfg, Store: func(name string) (*pinstore.Store, error) {
		opened++
		if name != "pins" {
			return nil, errors.New("no store " + name)
		}
		return st, nil
	}}
	return d, st
}

func TestPinTargetAndFacts(t *testing.T) {
	ctx := context.Background()
	d, st := newDesk(t)
	if err := st.AddPatron(ctx, pinstore.Patron{ID: "CU1234567", Name: "Chan"}, "alice"); err != nil {
		t.Fatal(err)
	}
	if err := st.AddPatron(ctx, pinstore.Patron{ID: "CU7654321", Name: "Gone"}, "alice"); err != nil {
		t.Fatal(err)
	}
	if err := st.Delete(ctx, "CU7654321", "alice"); err != nil {
		t.Fatal(err)
	}

	if got := Clean(" cu 123\t4567\r\n"); got != "cu1234567" {
		t.Errorf("Clean = %q", got)
	}
	s, tg, err := d.PinTarget("cu1234567", false)
	if err != nil || s != st || tg.ID != "CU1234567" || tg.Route.Name != "julac" || tg.BackendName != "pins" {
		t.Fatalf("PinTarget(cu1234567) = %v %+v %v", s, tg, err)
	}
	var nr *NoRouteError
	if _, _, err := d.PinTarget("!!", false); !errors.As(err, &nr) {
		t.Errorf("no route: %v", err)
	}
	var ce *CampusError
	if _, _, err := d.PinTarget("JChan", false); !errors.As(err, &ce) || ce.Target.ID != "jchan" {
		t.Errorf("campus ID without patronRecord: %v", err)
	}
	if _, tg, err := d.PinTarget("JChan", true); err != nil || tg.BackendName != "pins" || tg.ID != "jchan" {
		t.Errorf("campus ID's library record: %+v %v", tg, err)
	}
	if _, _, err := d.PinTarget("  ", false); !errors.Is(err, ErrEmptyID) {
		t.Errorf("empty ID: %v", err)
	}

	f, err := d.Facts(ctx, "cu1234567")
	if err != nil || f.Account == nil || f.Account.State != pinstore.StateNoPIN || f.AccountBackend != "pins" || f.Campus != nil {
		t.Fatalf("facts of a patron without a PIN: %+v %v", f, err)
	}
	f, err = d.Facts(ctx, "CU7654321")
	if err != nil || !f.NotFound || f.Deleted == nil || f.Deleted.Operator != "alice" {
		t.Fatalf("facts of a deleted patron: %+v %v", f, err)
	}
	f, err = d.Facts(ctx, "xx-1")
	if err != nil || f.Target != nil {
		t.Fatalf("facts of an ID of no route: %+v %v", f, err)
	}
	f, err = d.Facts(ctx, "jchan")
	if err != nil || f.Campus == nil || f.Campus.Type != "ldap" || !f.Campus.RequirePatron || f.Campus.PatronOK ||
		f.Campus.PatronReason != backend.ReasonNoPatron || !f.NotFound || !strings.HasPrefix(f.Campus.URLs[0], "ldap://") {
		t.Fatalf("facts of a campus ID without a library record: %+v %+v %v", f, f.Campus, err)
	}
	if _, n, err := d.OnlyPinstore(""); err != nil || n != "pins" {
		t.Errorf("OnlyPinstore = %s %v", n, err)
	}
	var np *NotPinstoreError
	if _, _, err := d.OnlyPinstore("campus"); !errors.As(err, &np) {
		t.Errorf("OnlyPinstore(campus) = %v", err)
	}
}
