package localca

import (
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func mode(t *testing.T, name string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func TestCAMadeOnceWithPrivateModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "config", "stackctl", "ca")
	ca, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !ca.Created {
		t.Error("first Open: Created = false")
	}
	if m := mode(t, dir); m != 0o700 {
		t.Errorf("folder mode %o, want 700", m)
	}
	if m := mode(t, filepath.Join(dir, CAKeyFile)); m != 0o600 {
		t.Errorf("%s mode %o, want 600", CAKeyFile, m)
	}
	if m := mode(t, filepath.Join(dir, CAFile)); m != 0o644 {
		t.Errorf("%s mode %o, want 644", CAFile, m)
	}
	again, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if again.Created {
		t.Error("second Open made a new CA")
	}
	if again.Cert.SerialNumber.Cmp(ca.Cert.SerialNumber) != 0 {
		t.Errorf("second Open: serial %v, first %v", again.Cert.SerialNumber, ca.Cert.SerialNumber)
	}
	if !ca.Cert.IsCA || !ca.Cert.MaxPathLenZero {
		t.Error("the CA certificate is not a CA limited to leaves")
	}
	entries, _ := os.ReadDir(filepath.Dir(dir))
	for _, e := range entries {
		if e.Name() != "ca" {
			t.Errorf("left behind: %s", e.Name())
		}
	}
}

func TestEmptyFolderIsTakenOver(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ca")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ca, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !ca.Created || mode(t, dir) != 0o700 {
		t.Errorf("Created %v, mode %o", ca.Created, mode(t, dir))
	}
}

func TestLeafVerifiesAndIsKept(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ca")
	ca, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"Example.com", "www.example.com", "*.apps.test"}
	l, err := ca.Leaf(names)
	if err != nil {
		t.Fatal(err)
	}
	if l.Renewed != "none yet" {
		t.Errorf("Renewed = %q", l.Renewed)
	}
	if m := mode(t, l.KeyFile); m != 0o600 {
		t.Errorf("leaf key mode %o, want 600", m)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	for _, host := range []string{"localhost", "127.0.0.1", "::1", "example.com", "www.example.com", "x.apps.test"} {
		if _, err := l.Certificate.Leaf.Verify(x509.VerifyOptions{DNSName: host, Roots: roots}); err != nil {
			t.Errorf("%s: %v", host, err)
		}
	}
	if _, err := l.Certificate.Leaf.Verify(x509.VerifyOptions{DNSName: "other.test", Roots: roots}); err == nil {
		t.Error("the leaf verifies for a name it was not made for")
	}
	if got := time.Until(l.NotAfter); got > 825*24*time.Hour || got < RenewBefore {
		t.Errorf("leaf valid for %v", got)
	}

	kept, err := ca.Leaf([]string{"www.example.com", "example.com", "*.apps.test", "EXAMPLE.COM"})
	if err != nil {
		t.Fatal(err)
	}
	if kept.Renewed != "" || kept.Certificate.Leaf.SerialNumber.Cmp(l.Certificate.Leaf.SerialNumber) != 0 {
		t.Errorf("same names in another order: renewed (%q)", kept.Renewed)
	}
	changed, err := ca.Leaf([]string{"example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if changed.Renewed != "the names changed" {
		t.Errorf("other names: Renewed = %q", changed.Renewed)
	}
	if _, err := changed.Certificate.Leaf.Verify(x509.VerifyOptions{DNSName: "www.example.com", Roots: roots}); err == nil {
		t.Error("the new leaf still covers a dropped name")
	}
}

func TestLeafRenewedNearExpiryOrFromAnotherCA(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ca")
	ca, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	l := &Leaf{CertFile: filepath.Join(dir, LeafFile), KeyFile: filepath.Join(dir, LeafKeyFile), Names: LeafNames(nil)}
	// A leaf that expires in a week.
	saved := leafValidity
	func() {
		defer func() { leafValidity = saved }()
		leafValidity = 7 * 24 * time.Hour
		if err := ca.issueLeaf(l); err != nil {
			t.Fatal(err)
		}
	}()
	got, err := ca.Leaf(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(got.Renewed, "the kept one expires") {
		t.Errorf("Renewed = %q", got.Renewed)
	}

	// Another CA in another folder: its leaf copied here is not ours.
	other, err := Open(filepath.Join(t.TempDir(), "ca"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Leaf(nil); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{LeafFile, LeafKeyFile} {
		b, _ := os.ReadFile(filepath.Join(other.Dir, f))
		os.WriteFile(filepath.Join(dir, f), b, 0o600)
	}
	got, err = ca.Leaf(nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.Renewed != "the kept one was signed by another CA" {
		t.Errorf("Renewed = %q", got.Renewed)
	}
}

func TestCorruptCAIsAnErrorNotReplaced(t *testing.T) {
	for _, tc := range []struct {
		name, file, content string
		remove              bool
		want                string
	}{
		{name: "cert_garbage", file: CAFile, content: "garbage\n", want: "not a PEM certificate"},
		{name: "key_garbage", file: CAKeyFile, content: "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", want: "not a valid private key"},
		{name: "key_missing", file: CAKeyFile, remove: true, want: "missing"},
		{name: "cert_missing", file: CAFile, remove: true, want: "missing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "ca")
			if _, err := Open(dir); err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(dir, tc.file)
			if tc.remove {
				os.Remove(p)
			} else if err := os.WriteFile(p, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			before, _ := os.ReadFile(p)
			_, err := Open(dir)
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("Open: %v, want an *Error", err)
			}
			if ce.File != p || !strings.Contains(err.Error(), tc.want) || !strings.Contains(ce.Fix, "delete the folder "+dir) {
				t.Errorf("error %q (file %s), fix %q", err, ce.File, ce.Fix)
			}
			after, _ := os.ReadFile(p)
			if string(before) != string(after) {
				t.Error("the file was changed")
			}
		})
	}
}

func TestMismatchedCAKey(t *testing.T) {
	a := filepath.Join(t.TempDir(), "a")
	b := filepath.Join(t.TempDir(), "b")
	for _, d := range []string{a, b} {
		if _, err := Open(d); err != nil {
			t.Fatal(err)
		}
	}
	k, _ := os.ReadFile(filepath.Join(b, CAKeyFile))
	os.WriteFile(filepath.Join(a, CAKeyFile), k, 0o600)
	_, err := Open(a)
	if err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Errorf("Open: %v", err)
	}
}

func TestUnreadableCA(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads files whatever their mode")
	}
	dir := filepath.Join(t.TempDir(), "ca")
	if _, err := Open(dir); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Join(dir, CAKeyFile), 0)
	_, err := Open(dir)
	if err == nil || !strings.Contains(err.Error(), "permission denied") || !strings.Contains(err.Error(), CAKeyFile) {
		t.Errorf("Open: %v", err)
	}
}

func TestTrustHowTo(t *testing.T) {
	got := strings.Join(TrustHowTo("/home/a b/ca.pem"), "\n")
	for _, want := range []string{
		"cp '/home/a b/ca.pem' /usr/local/share/ca-certificates/stackctl.crt && sudo update-ca-certificates",
		"security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain '/home/a b/ca.pem'",
		"certutil -d sql:$HOME/.pki/nssdb -A -t C,, -n stackctl -i '/home/a b/ca.pem'",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in\n%s", want, got)
		}
	}
}
