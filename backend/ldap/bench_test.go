package ldapbackend

import (
	"context"
	"testing"
	"time"

	"github.com/bindery/bindery/backend"
	"github.com/bindery/bindery/internal/slapdtest"
	"github.com/go-ldap/ldap/v3"
)

// BenchmarkAuthenticate measures one uncached campus login through the
// backend against a real slapd, with b.RunParallel's goroutines sharing
// one backend: search then bind; a DN template (bind, then read the
// entry); and search then bind with lookup_ttl (after the first login, one
// bind).
// BenchmarkDirectBind is the same slapd answering a plain bind, for the
// ratio. Run both in one command:
//
//	go test -run '^$' -bench 'Authenticate|DirectBind' -cpu 16 ./backend/ldap
func BenchmarkAuthenticate(b *testing.B) {
	s := slapdtest.Start(b, slapdtest.Options{LDIF: fixture()})
	for _, mode := range []string{"search", "template", "search-lookup_ttl"} {
		b.Run(mode, func(b *testing.B) {
			cfg := Config{URLs: []string{s.URL()}, BindDN: serviceDN, BindPassword: servicePW, BaseDN: slapdtest.BaseDN,
				Timeout: 5 * time.Second, PoolSize: 32}
			if mode == "search-lookup_ttl" {
				cfg.LookupTTL = time.Minute
			}
			if mode == "template" {
				cfg.BaseDN, cfg.DNTemplate = "", "uid={id},"+slapdtest.PeopleDN
			}
			be, err := New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer be.Close()
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					_, ok, err := be.Authenticate(context.Background(), backend.Credentials{ID: "jchan", Password: jchanPW})
					if err != nil || !ok {
						b.Errorf("ok=%v err=%v", ok, err)
						return
					}
				}
			})
		})
	}
}

func BenchmarkDirectBind(b *testing.B) {
	s := slapdtest.Start(b, slapdtest.Options{LDIF: fixture()})
	dn := "uid=jchan," + slapdtest.PeopleDN
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		l, err := ldap.DialURL(s.URL())
		if err != nil {
			b.Error(err)
			return
		}
		defer l.Close()
		for pb.Next() {
			if err := l.Bind(dn, jchanPW); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
