// Package certs keeps the server's TLS certificate and key current while
// it serves: tls.Config.GetCertificate hands out the pair last loaded,
// and Reload (on SIGHUP) or Watch (when the files change) loads a new one.
// A new pair that cannot be loaded (a missing file, a key that does not
// match the certificate, half of a renewal copied) is refused with a log
// line and the pair in use stays, so a bad renewal never takes TLS down.
// Connections already open keep the certificate they were made with.
// See README.md in this folder.
package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// DefaultWatchInterval is how often Watch looks at the files.
const DefaultWatchInterval = 10 * time.Second

// Reloader holds the current certificate. It is safe for concurrent use.
type Reloader struct {
	logger *slog.Logger

	mu       sync.Mutex
	certFile string // the files to serve (the last ones asked for, even if refused)
	keyFile  string
	stamp    string // their identity when last loaded (or refused)
	cert     *tls.Certificate
	notAfter time.Time
}

// New loads the pair; an error names the file at fault.
func New(certFile, keyFile string, logger *slog.Logger) (*Reloader, error) {
	if logger == nil {
		logger = slog.Default()
	}
	r := &Reloader{logger: logger, certFile: certFile, keyFile: keyFile}
	cert, notAfter, err := load(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	r.cert, r.notAfter, r.stamp = cert, notAfter, stamp(certFile, keyFile)
	return r, nil
}

// load reads and checks a pair: both files readable, the key matching the
// certificate (tls.LoadX509KeyPair), the leaf parsed for its dates.
func load(certFile, keyFile string) (*tls.Certificate, time.Time, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("certs: %s and %s: %w", certFile, keyFile, err)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("certs: %s: %w", certFile, err)
	}
	cert.Leaf = leaf
	return &cert, leaf.NotAfter, nil
}

// Check loads a pair the way the server would and reports why it cannot
// serve it (bindery --check).
func Check(certFile, keyFile string) error {
	_, _, err := load(certFile, keyFile)
	return err
}

// stamp identifies the files' current content cheaply: path, size and
// modification time of each (a renewal rewrites or renames them).
func stamp(files ...string) string {
	s := ""
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			s += f + ":missing;"
			continue
		}
		s += fmt.Sprintf("%s:%d:%d;", f, fi.Size(), fi.ModTime().UnixNano())
	}
	return s
}

// GetCertificate is for tls.Config.GetCertificate.
func (r *Reloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cert, nil
}

// TLSConfig is a server configuration (TLS 1.2 or later) that always
// serves the current certificate.
func (r *Reloader) TLSConfig() *tls.Config {
	return &tls.Config{GetCertificate: r.GetCertificate, MinVersion: tls.VersionTLS12}
}

// NotAfter is the expiry of the certificate in use.
func (r *Reloader) NotAfter() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.notAfter
}

// ErrUnchanged is returned by Reload when the pair in use was kept
// because the new one could not be loaded.
var ErrUnchanged = errors.New("certs: the certificate in use is kept")

// Reload loads the pair from certFile and keyFile (the paths may have
// changed with the configuration). On failure the certificate in use
// stays, the reason is logged, and the error wraps ErrUnchanged.
func (r *Reloader) Reload(certFile, keyFile string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reloadLocked(certFile, keyFile, "reload")
}

func (r *Reloader) reloadLocked(certFile, keyFile, why string) error {
	st := stamp(certFile, keyFile)
	cert, notAfter, err := load(certFile, keyFile)
	r.certFile, r.keyFile, r.stamp = certFile, keyFile, st
	if err != nil {
		r.logger.Error("tls: new certificate refused; still serving the previous one",
			"why", why, "err", err, "serving_until", r.notAfter.Format(time.RFC3339))
		return fmt.Errorf("%w: %w", ErrUnchanged, err)
	}
	r.cert, r.notAfter = cert, notAfter
	r.logger.Info("tls: certificate loaded", "why", why, "cert_file", certFile,
		"subject", cert.Leaf.Subject.String(), "not_after", notAfter.Format(time.RFC3339))
	return nil
}

// Watch reloads the pair whenever either file changes (size, time or
// presence), looking every interval (DefaultWatchInterval when 0), until
// ctx ends. A renewal copied in two steps may be refused once between
// them; the next change loads it.
func (r *Reloader) Watch(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = DefaultWatchInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		r.mu.Lock()
		if stamp(r.certFile, r.keyFile) != r.stamp {
			r.reloadLocked(r.certFile, r.keyFile, "files changed")
		}
		r.mu.Unlock()
	}
}
