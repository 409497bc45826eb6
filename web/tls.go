package web

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"tvbridge/clock"
)

// TLSConfig names the certificate files of an HTTPS server.
type TLSConfig struct {
	// CertFile holds the PEM certificate chain, leaf first; KeyFile its
	// private key. Both are re-read when either changes on disk (checked at
	// most every CheckInterval, at a handshake), so a renewed certificate
	// is picked up without a restart. A pair that fails to load (say, the
	// certificate was replaced before the key) is logged and the previous
	// one kept until the next check.
	CertFile, KeyFile string
	// CheckInterval; default 10 seconds.
	CheckInterval time.Duration
	Clock         clock.Clock  // default clock.Real{}
	Logger        *slog.Logger // default slog.Default()
}

// NewTLS returns the server TLS settings: TLS 1.2 or later, AEAD cipher
// suites with forward secrecy for TLS 1.2 (TLS 1.3 suites are fixed),
// HTTP/1.1 by ALPN, and the certificate from cfg's files, reloaded when
// they change. It fails when the files do not load now.
func NewTLS(cfg TLSConfig) (*tls.Config, error) {
	if cfg.CheckInterval <= 0 {
		cfg.CheckInterval = 10 * time.Second
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	r := &reloader{cfg: cfg}
	if err := r.load(); err != nil {
		return nil, err
	}
	r.checked = cfg.Clock.Now()
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
		NextProtos:     []string{"http/1.1"},
		GetCertificate: r.certificate,
	}, nil
}

// reloader serves the current certificate and reloads it when its files
// change.
type reloader struct {
	cfg TLSConfig

	mu      sync.Mutex
	cert    *tls.Certificate
	stamp   fileStamp // of the files the current certificate came from
	checked time.Time
}

// fileStamp identifies a version of the two files.
type fileStamp struct {
	certMod, keyMod   time.Time
	certSize, keySize int64
}

func (r *reloader) certificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if now := r.cfg.Clock.Now(); now.Sub(r.checked) >= r.cfg.CheckInterval {
		r.checked = now
		if st, err := r.statFiles(); err == nil && st != r.stamp {
			if err := r.load(); err != nil {
				r.cfg.Logger.Error("web: new TLS certificate does not load; keeping the previous one", "err", err)
			}
		}
	}
	return r.cert, nil
}

func (r *reloader) statFiles() (fileStamp, error) {
	c, err := os.Stat(r.cfg.CertFile)
	if err != nil {
		return fileStamp{}, err
	}
	k, err := os.Stat(r.cfg.KeyFile)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{certMod: c.ModTime(), keyMod: k.ModTime(), certSize: c.Size(), keySize: k.Size()}, nil
}

// load reads the pair; the stamp is taken first, so a change during the
// read is seen at the next check.
func (r *reloader) load() error {
	st, err := r.statFiles()
	if err != nil {
		return fmt.Errorf("web: TLS certificate: %w", err)
	}
	cert, err := tls.LoadX509KeyPair(r.cfg.CertFile, r.cfg.KeyFile)
	if err != nil {
		return fmt.Errorf("web: TLS certificate %s / key %s: %w", r.cfg.CertFile, r.cfg.KeyFile, err)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return fmt.Errorf("web: TLS certificate %s: %w", r.cfg.CertFile, err)
	}
	cert.Leaf = leaf
	r.cert, r.stamp = &cert, st
	log := r.cfg.Logger.With("subject", leaf.Subject.String(), "dns", leaf.DNSNames, "not_after", leaf.NotAfter)
	if left := leaf.NotAfter.Sub(r.cfg.Clock.Now()); left < 14*24*time.Hour {
		log.Warn("web: TLS certificate loaded; it expires soon", "left", left.Round(time.Hour))
	} else {
		log.Info("web: TLS certificate loaded")
	}
	return nil
}
