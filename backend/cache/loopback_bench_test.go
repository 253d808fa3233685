package cache_test

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"

	"github.com/bindery/bindery/backend/cache"
	"github.com/bindery/bindery/backend/pinstore"
	"github.com/bindery/bindery/internal/asynclog"
	"github.com/bindery/bindery/internal/hashpool"
	"github.com/bindery/bindery/internal/passhash"
	"github.com/bindery/bindery/proxy"
)

// BenchmarkCachedBindLoopback is the whole cached bind path in one
// process: a client writes a pre-encoded simple bind on a loopback TCP
// connection, bindery reads and decodes it, parses the DN, matches the
// route, answers from the cache in front of a real SQLite PIN store and
// writes the response, which the client reads. 16 connections (8 per
// GOMAXPROCS on 2 CPUs). Sub-benchmarks differ in logging:
//
//	warn:       [log] level = "warn" (bind lines filtered, as scripts/bench.sh runs)
//	info-sync:  every bind logged, slog TextHandler straight to a file
//	info-async: every bind logged through internal/asynclog to a file
//
// Profile it with
//
//	go test -run x -bench CachedBindLoopback/warn -benchtime 5s -cpuprofile cpu.out ./backend/cache
//	go tool pprof -top cpu.out
func BenchmarkCachedBindLoopback(b *testing.B) {
	for _, lc := range []struct {
		name  string
		level slog.Level
		async bool
	}{
		{"warn", slog.LevelWarn, true},
		{"info-sync", slog.LevelInfo, false},
		{"info-async", slog.LevelInfo, true},
	} {
		b.Run(lc.name, func(b *testing.B) {
			f, err := os.Create(filepath.Join(b.TempDir(), "bindery.log"))
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			var h slog.Handler = slog.NewTextHandler(f, &slog.HandlerOptions{Level: lc.level})
			if lc.async {
				ah := asynclog.New(f, 0, func(w io.Writer) slog.Handler {
					return slog.NewTextHandler(w, &slog.HandlerOptions{Level: lc.level})
				})
				defer ah.Close()
				h = ah
			}
			addr := loopbackStack(b, slog.New(h))
			benchBinds(b, addr)
		})
	}
}

// loopbackStack starts a proxy with the julac route on a cached real
// pinstore holding CU1234567 (PIN Library2026), and primes the cache.
func loopbackStack(b *testing.B, logger *slog.Logger) string {
	b.Helper()
	ctx := context.Background()
	pool := hashpool.New(2)
	st, err := pinstore.Open(ctx, pinstore.Options{
		DSN:      filepath.Join(b.TempDir(), "pins.db"),
		Hash:     passhash.Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1},
		HashPool: pool,
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := st.AddPatron(ctx, pinstore.Patron{ID: "CU1234567", Name: "Chan Tai Man"}, "bench"); err != nil {
		b.Fatal(err)
	}
	if err := st.SetPIN(ctx, "CU1234567", "Library2026", "bench"); err != nil {
		b.Fatal(err)
	}
	srv := &proxy.Server{Suffix: suffix, Logger: logger}
	srv.SetRoutes(&proxy.Routes{List: []proxy.Route{{
		Name: "julac", Match: regexp.MustCompile(`^(CITYU|BU|UST|LU|CU|EDU|PU)[0-9]{4,12}$`), Case: proxy.CaseUpper,
		BackendName: "pins", Backend: cache.New("pins", st, cache.Options{TTL: time.Hour}),
	}}})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(l)
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		st.Close()
	})
	c := dialRaw(b, l.Addr().String())
	if code := c.bind(); code != 0 {
		b.Fatalf("priming bind: code %d", code)
	}
	c.nc.Close()
	return l.Addr().String()
}

func benchBinds(b *testing.B, addr string) {
	b.SetParallelism(8)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		c := dialRaw(b, addr)
		defer c.nc.Close()
		for pb.Next() {
			if code := c.bind(); code != 0 {
				b.Errorf("bind: code %d", code)
				return
			}
		}
	})
}

// rawClient sends one pre-encoded bind request and reads one response,
// so that the client costs little next to the server.
type rawClient struct {
	nc  net.Conn
	br  *bufio.Reader
	req []byte
	buf [128]byte
}

func dialRaw(b *testing.B, addr string) *rawClient {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	msg := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "LDAPMessage")
	msg.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, int64(1), "id"))
	req := ber.Encode(ber.ClassApplication, ber.TypeConstructed, 0, nil, "BindRequest")
	req.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, int64(3), "version"))
	req.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "uid=CU1234567,ou=people,"+suffix, "name"))
	req.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 0, "Library2026", "password"))
	msg.AppendChild(req)
	return &rawClient{nc: nc, br: bufio.NewReader(nc), req: msg.Bytes()}
}

// bind returns the result code of one bind, or -1. It reads the response
// by hand (a short-form length, as bindery's bind responses have) so that
// the client allocates nothing.
func (c *rawClient) bind() int {
	if _, err := c.nc.Write(c.req); err != nil {
		return -1
	}
	var hdr [2]byte
	if _, err := io.ReadFull(c.br, hdr[:]); err != nil || hdr[0] != 0x30 || hdr[1] >= 0x80 {
		return -1
	}
	body := c.buf[:hdr[1]]
	if _, err := io.ReadFull(c.br, body); err != nil {
		return -1
	}
	// 02 01 <id> 61 <len> 0a 01 <code> ...
	if len(body) < 8 || body[0] != 0x02 || body[1] != 1 || body[3] != 0x61 || body[5] != 0x0a || body[6] != 1 {
		return -1
	}
	return int(body[7])
}
