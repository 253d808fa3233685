package certs

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bindery/bindery/internal/slapdtest"
)

func pairIn(t *testing.T) *slapdtest.CertFiles {
	t.Helper()
	cf, err := slapdtest.WriteCerts(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return cf
}

func leafOf(t *testing.T, path string) []byte {
	t.Helper()
	c, _, err := load(path, path[:len(path)-len("server.pem")]+"server.key")
	if err != nil {
		t.Fatal(err)
	}
	return c.Certificate[0]
}

func serving(t *testing.T, r *Reloader) []byte {
	t.Helper()
	c, err := r.GetCertificate(nil)
	if err != nil || c == nil {
		t.Fatalf("GetCertificate: %v", err)
	}
	return c.Certificate[0]
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestNewAndCheck(t *testing.T) {
	a, b := pairIn(t), pairIn(t)
	if _, err := New(a.CertFile, filepath.Join(t.TempDir(), "none.key"), quiet()); err == nil {
		t.Fatal("a missing key was accepted")
	}
	if err := Check(a.CertFile, b.KeyFile); err == nil {
		t.Fatal("a key that does not match the certificate was accepted")
	}
	if err := Check(a.CertFile, a.KeyFile); err != nil {
		t.Fatal(err)
	}
	r, err := New(a.CertFile, a.KeyFile, quiet())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(serving(t, r), leafOf(t, a.CertFile)) {
		t.Fatal("not serving the loaded certificate")
	}
	if r.NotAfter().Before(time.Now()) {
		t.Fatalf("NotAfter %v", r.NotAfter())
	}
}

func TestReloadKeepsTheOldPairOnError(t *testing.T) {
	a, b := pairIn(t), pairIn(t)
	var logs bytes.Buffer
	r, err := New(a.CertFile, a.KeyFile, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Reload(a.CertFile, b.KeyFile); !errors.Is(err, ErrUnchanged) {
		t.Fatalf("mismatched pair: %v", err)
	}
	if !bytes.Equal(serving(t, r), leafOf(t, a.CertFile)) {
		t.Fatal("a refused pair replaced the one in use")
	}
	if !bytes.Contains(logs.Bytes(), []byte("new certificate refused; still serving the previous one")) {
		t.Fatalf("no clear log line:\n%s", logs.String())
	}
	if err := r.Reload(b.CertFile, b.KeyFile); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(serving(t, r), leafOf(t, b.CertFile)) {
		t.Fatal("the new pair is not served")
	}
}

func TestWatchPicksUpRenewedFiles(t *testing.T) {
	a, b := pairIn(t), pairIn(t)
	r, err := New(a.CertFile, a.KeyFile, quiet())
	if err != nil {
		t.Fatal(err)
	}
	want := leafOf(t, b.CertFile)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Watch(ctx, 20*time.Millisecond); close(done) }()
	defer func() { cancel(); <-done }()

	// Half a renewal: the new certificate with the old key is refused.
	time.Sleep(30 * time.Millisecond) // a different modification time
	copyFile(t, b.CertFile, a.CertFile)
	time.Sleep(200 * time.Millisecond)
	if bytes.Equal(serving(t, r), want) {
		t.Fatal("served a certificate whose key was not there yet")
	}
	copyFile(t, b.KeyFile, a.KeyFile)
	deadline := time.Now().Add(5 * time.Second)
	for !bytes.Equal(serving(t, r), want) {
		if time.Now().After(deadline) {
			t.Fatal("the renewed pair was not picked up")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
