package stack

import (
	"os"
	"path/filepath"
	"testing"
)

func TestACMEDefaults(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, FileName)
	os.WriteFile(p, []byte("name = \"x\"\n[nginx.tls]\nenabled = true\nacme_ca = \"certs/ca.pem\"\n"), 0o644)
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if c.Nginx.TLS.ACMEServer != DefaultACMEServer || c.Nginx.TLS.Challenge != ChallengeHTTP01 || c.Nginx.TLS.Email != "" {
		t.Errorf("defaults: %+v", c.Nginx.TLS)
	}
	if !c.UsesACME() || c.ACMECAPath() != filepath.Join(dir, "certs", "ca.pem") {
		t.Errorf("UsesACME %v, ACMECAPath %q", c.UsesACME(), c.ACMECAPath())
	}
	// A certificate of one's own: no ACME.
	c.Nginx.TLS.Cert, c.Nginx.TLS.Key = "/etc/ssl/x.pem", "/etc/ssl/x.key"
	if c.UsesACME() {
		t.Error("UsesACME with nginx.tls.cert set")
	}
	c.Nginx.TLS.ACMECA = "/abs/ca.pem"
	if c.ACMECAPath() != "/abs/ca.pem" {
		t.Errorf("ACMECAPath %q", c.ACMECAPath())
	}
	for _, ok := range []string{"https://acme-staging-v02.api.letsencrypt.org/directory", "https://10.77.1.1:14000/dir"} {
		if err := ValidateACMEServer(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"acme.example/dir", "https://user@acme.example/dir", "https:///dir", "https://a b/"} {
		if ValidateACMEServer(bad) == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	for _, bad := range []string{"ops", "-ops@example.com", "ops@example", "a@b.c\nd"} {
		if ValidateEmail(bad) == nil {
			t.Errorf("e-mail %q accepted", bad)
		}
	}
}
