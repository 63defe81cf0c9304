package doctor

import (
	"strings"
	"testing"
	"time"

	"github.com/stackctl/stackctl/internal/deploy"
)

func TestCertCheck(t *testing.T) {
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	cert := func(days int) *deploy.CertStatus {
		return &deploy.CertStatus{Names: []string{"example.com"}, Issuer: "R11", NotAfter: now.Add(time.Duration(days)*24*time.Hour + time.Hour)}
	}
	tests := []struct {
		cs     *deploy.CertStatus
		acme   bool
		status Status
		detail string
		fix    string
		ok     bool
	}{
		{cert(60), true, OK, "example.com: expires 2027-02-02, in 60 days (R11)", "", true},
		{cert(14), true, OK, "in 14 days", "", true},
		{cert(13), true, Warn, "in 13 days", "stackctl certs renew", true},
		{cert(3), false, Warn, "in 3 days", "replace nginx.tls.cert", true},
		{cert(-2), true, Fail, "expired on 2026-12-02", "stackctl certs renew", false},
		{nil, true, Skip, "none here", "", true},
	}
	for _, tt := range tests {
		r := Report{OK: true, Host: "lb1"}
		CertCheck(&r, tt.cs, tt.acme, now)
		c := r.Checks[len(r.Checks)-1]
		if c.Name != "TLS certificate" || c.Status != tt.status || !strings.Contains(c.Detail, tt.detail) || !strings.Contains(c.Fix, tt.fix) || r.OK != tt.ok {
			t.Errorf("CertCheck(%v): %+v, OK %v", tt.cs, c, r.OK)
		}
	}
}
