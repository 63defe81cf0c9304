// Package localca is the local certificate authority behind `stackctl serve
// --https`, in the manner of mkcert: a CA made once per user, kept in the
// user's config folder (os.UserConfigDir()/stackctl/ca), and a leaf
// certificate it signs for localhost, 127.0.0.1, ::1 and the site's
// proxy.server_names.
//
// The folder holds:
//
//	ca.pem             the CA certificate: what the user trusts (0644)
//	ca-key.pem         its private key (0600)
//	localhost.pem      the leaf certificate (0644)
//	localhost-key.pem  its private key (0600)
//
// The folder is 0700. Every file is written atomically (a temporary file in
// the same folder, then a rename), and the CA's two files appear together:
// they are written in a temporary folder renamed to ca/. A CA that cannot be
// read or used is an error naming the file and the fix (delete the folder to
// make a new CA); it is never replaced silently, since the user trusted it.
// The leaf is only a product of the CA: it is made again when it is
// missing, unreadable as a certificate, for other names, signed by another
// CA, or near its expiry.
package localca

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// File names in the CA folder.
const (
	CAFile      = "ca.pem"
	CAKeyFile   = "ca-key.pem"
	LeafFile    = "localhost.pem"
	LeafKeyFile = "localhost-key.pem"
)

// Validity periods. The leaf stays under the 825 days macOS accepts for a
// TLS server certificate, and is renewed RenewBefore its expiry.
const (
	CAValidity   = 10 * 365 * 24 * time.Hour
	LeafValidity = 397 * 24 * time.Hour
	RenewBefore  = 30 * 24 * time.Hour
)

// DefaultDir is os.UserConfigDir()/stackctl/ca: $XDG_CONFIG_HOME or
// ~/.config on Linux, ~/Library/Application Support on macOS.
func DefaultDir() (string, error) {
	base, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("no config folder for the local CA: %w", err)
	}
	return filepath.Join(base, "stackctl", "ca"), nil
}

// CA is a loaded local certificate authority.
type CA struct {
	// Dir is the CA's folder.
	Dir string
	// Cert is the CA certificate, and CertFile its path (what the user
	// trusts).
	Cert     *x509.Certificate
	CertFile string
	// Created is true when this Open made the CA.
	Created bool

	key *ecdsa.PrivateKey
}

// Error is a CA that exists but cannot be used: File is the culprit, Fix
// says what to do.
type Error struct {
	File string
	Err  error
	Fix  string
}

func (e *Error) Error() string { return e.File + ": " + e.Err.Error() }

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

func caError(dir, file string, err error) error {
	return &Error{
		File: filepath.Join(dir, file),
		Err:  err,
		Fix: "delete the folder " + dir + " to make a new local CA (then trust the new ca.pem again), " +
			"or restore the file from a backup",
	}
}

// Open loads the CA in dir, or makes it when dir holds no CA yet (dir
// missing or empty). A CA with one of its two files missing, unreadable,
// not PEM, not a CA, expired or with a key that does not match is an
// *Error.
func Open(dir string) (*CA, error) {
	_, errCert := os.Stat(filepath.Join(dir, CAFile))
	_, errKey := os.Stat(filepath.Join(dir, CAKeyFile))
	if errors.Is(errCert, fs.ErrNotExist) && errors.Is(errKey, fs.ErrNotExist) {
		ca, err := create(dir)
		if err == nil || !errors.Is(err, fs.ErrExist) {
			return ca, err
		}
		// Another stackctl made it meanwhile: use that one.
	}
	return load(dir)
}

func load(dir string) (*CA, error) {
	certPEM, err := os.ReadFile(filepath.Join(dir, CAFile))
	if err != nil {
		return nil, caError(dir, CAFile, readErr(err))
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, CAKeyFile))
	if err != nil {
		return nil, caError(dir, CAKeyFile, readErr(err))
	}
	cert, err := parseCert(certPEM)
	if err != nil {
		return nil, caError(dir, CAFile, err)
	}
	if !cert.IsCA || !cert.BasicConstraintsValid || cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, caError(dir, CAFile, errors.New("not a CA certificate"))
	}
	if now := time.Now(); now.After(cert.NotAfter) || now.Before(cert.NotBefore) {
		return nil, caError(dir, CAFile, fmt.Errorf("the CA certificate is valid from %s to %s only",
			cert.NotBefore.Format(time.DateOnly), cert.NotAfter.Format(time.DateOnly)))
	}
	key, err := parseKey(keyPEM)
	if err != nil {
		return nil, caError(dir, CAKeyFile, err)
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, caError(dir, CAKeyFile, fmt.Errorf("the key does not match %s", CAFile))
	}
	return &CA{Dir: dir, Cert: cert, CertFile: filepath.Join(dir, CAFile), key: key}, nil
}

func readErr(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return errors.New("missing, while the other file of the CA is there")
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// create makes a CA in a temporary folder beside dir and renames it to
// dir, so that the certificate and key appear together. It fails with an
// error wrapping fs.ErrExist when dir exists and is not empty.
func create(dir string) (*CA, error) {
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	user := os.Getenv("USER")
	if user == "" {
		user = os.Getenv("USERNAME")
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject: pkix.Name{
			Organization:       []string{"stackctl local CA"},
			OrganizationalUnit: []string{strings.TrimSpace(user + "@" + host)},
			CommonName:         "stackctl local CA " + user + "@" + host,
		},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(CAValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(parent, ".ca-new-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp) // gone after the rename
	if err := os.Chmod(tmp, 0o700); err != nil {
		return nil, err
	}
	if err := writeFile(filepath.Join(tmp, CAKeyFile), pemBlock("PRIVATE KEY", keyDER), 0o600); err != nil {
		return nil, err
	}
	if err := writeFile(filepath.Join(tmp, CAFile), pemBlock("CERTIFICATE", der), 0o644); err != nil {
		return nil, err
	}
	// An empty folder (made by hand, or left by an old attempt) is taken
	// over; rename does not replace a folder with files in it.
	if err := os.Remove(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		if isNotEmpty(err) {
			return nil, fmt.Errorf("%s: %w", dir, fs.ErrExist)
		}
		return nil, err
	}
	if err := os.Rename(tmp, dir); err != nil {
		if isNotEmpty(err) {
			return nil, fmt.Errorf("%s: %w", dir, fs.ErrExist)
		}
		return nil, err
	}
	syncDir(parent)
	return &CA{Dir: dir, Cert: cert, CertFile: filepath.Join(dir, CAFile), Created: true, key: key}, nil
}

func isNotEmpty(err error) bool {
	return errors.Is(err, fs.ErrExist) || strings.Contains(err.Error(), "directory not empty")
}

// Leaf is the certificate served by the proxy.
type Leaf struct {
	// Certificate is the pair for tls.Config.Certificates.
	Certificate tls.Certificate
	// CertFile and KeyFile are its files in the CA folder.
	CertFile, KeyFile string
	// Names are the DNS names and IP addresses it covers.
	Names []string
	// NotAfter is its expiry.
	NotAfter time.Time
	// Renewed says why it was made by this call ("" when the kept one was
	// used): "none yet", "the names changed", ...
	Renewed string
}

// LeafNames are the names a leaf for serverNames covers: localhost,
// 127.0.0.1, ::1, then the server names lower-cased, without repeats.
func LeafNames(serverNames []string) []string {
	names := []string{"localhost", "127.0.0.1", "::1"}
	for _, n := range serverNames {
		n = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(n)), ".")
		if ip := net.ParseIP(n); ip != nil {
			n = ip.String()
		}
		if n != "" && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	return names
}

// Leaf returns the leaf certificate for serverNames (plus localhost and the
// loopback addresses): the one kept in the folder when it covers exactly
// these names, is signed by this CA and is not within RenewBefore of its
// expiry; otherwise a new one, written in place of the old.
func (ca *CA) Leaf(serverNames []string) (*Leaf, error) {
	names := LeafNames(serverNames)
	l := &Leaf{CertFile: filepath.Join(ca.Dir, LeafFile), KeyFile: filepath.Join(ca.Dir, LeafKeyFile), Names: names}
	why, err := ca.checkLeaf(l)
	if err != nil {
		return nil, err
	}
	if why == "" {
		return l, nil
	}
	if err := ca.issueLeaf(l); err != nil {
		return nil, err
	}
	l.Renewed = why
	return l, nil
}

// checkLeaf loads the kept leaf into l and returns "" when it can be used,
// or why a new one is needed. Only a file that exists but cannot be read
// is an error.
func (ca *CA) checkLeaf(l *Leaf) (string, error) {
	certPEM, err := os.ReadFile(l.CertFile)
	if errors.Is(err, fs.ErrNotExist) {
		return "none yet", nil
	} else if err != nil {
		return "", &Error{File: l.CertFile, Err: readErr(err), Fix: "fix its permissions, or delete it to make a new one"}
	}
	keyPEM, err := os.ReadFile(l.KeyFile)
	if errors.Is(err, fs.ErrNotExist) {
		return "its key was missing", nil
	} else if err != nil {
		return "", &Error{File: l.KeyFile, Err: readErr(err), Fix: "fix its permissions, or delete it to make a new one"}
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return "the kept one was unusable (" + err.Error() + ")", nil
	}
	cert := pair.Leaf
	if cert == nil {
		if cert, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return "the kept one was unusable (" + err.Error() + ")", nil
		}
	}
	if err := cert.CheckSignatureFrom(ca.Cert); err != nil {
		return "the kept one was signed by another CA", nil
	}
	if !slices.Equal(sortedCopy(certNames(cert)), sortedCopy(l.Names)) {
		return "the names changed", nil
	}
	if time.Until(cert.NotAfter) < RenewBefore {
		return "the kept one expires on " + cert.NotAfter.Format(time.DateOnly), nil
	}
	if time.Now().Before(cert.NotBefore) {
		return "the kept one is not valid yet", nil
	}
	pair.Leaf = cert
	l.Certificate = pair
	l.NotAfter = cert.NotAfter
	return "", nil
}

func (ca *CA) issueLeaf(l *Leaf) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject: pkix.Name{
			Organization: []string{"stackctl development certificate"},
			CommonName:   l.Names[0],
		},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(leafValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	for _, n := range l.Names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.key)
	if err != nil {
		return err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	// The key first: a reader between the two renames finds a pair that
	// does not match, and makes a new one.
	if err := writeFile(l.KeyFile, pemBlock("PRIVATE KEY", keyDER), 0o600); err != nil {
		return err
	}
	if err := writeFile(l.CertFile, pemBlock("CERTIFICATE", der), 0o644); err != nil {
		return err
	}
	l.Certificate = tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}
	l.NotAfter = cert.NotAfter
	return nil
}

// certNames are the DNS names and IP addresses of cert, as LeafNames
// spells them.
func certNames(cert *x509.Certificate) []string {
	names := append([]string(nil), cert.DNSNames...)
	for _, ip := range cert.IPAddresses {
		names = append(names, ip.String())
	}
	return names
}

func sortedCopy(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// leafValidity is LeafValidity; tests shorten it.
var leafValidity = LeafValidity

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand does not fail
	}
	return n.Add(n, big.NewInt(1))
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func parseCert(b []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("not a PEM certificate")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("not a valid certificate: %w", err)
	}
	return cert, nil
}

func parseKey(b []byte) (*ecdsa.PrivateKey, error) {
	block, _ := pem.Decode(b)
	if block == nil || !bytes.HasSuffix([]byte(block.Type), []byte("PRIVATE KEY")) {
		return nil, errors.New("not a PEM private key")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		if ek, err2 := x509.ParseECPrivateKey(block.Bytes); err2 == nil {
			return ek, nil
		}
		return nil, fmt.Errorf("not a valid private key: %w", err)
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("a %T, not an ECDSA key", k)
	}
	return ek, nil
}

// writeFile writes b to name atomically: a temporary file in the same
// folder with mode perm, synced, then renamed over name.
func writeFile(name string, b []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".tmp-")
	if err != nil {
		return err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(perm); err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, name); err != nil {
		return err
	}
	ok = true
	syncDir(filepath.Dir(name))
	return nil
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// TrustHowTo returns the commands that make a system and browsers trust
// the CA certificate at caFile, one line each: Debian/Ubuntu's store,
// macOS's System keychain and Firefox's (and Chromium's on Linux) NSS
// database.
func TrustHowTo(caFile string) []string {
	q := shellQuote(caFile)
	return []string{
		"Debian/Ubuntu: sudo cp " + q + " /usr/local/share/ca-certificates/stackctl.crt && sudo update-ca-certificates",
		"macOS:         sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain " + q,
		"Firefox/NSS:   certutil -d sql:$HOME/.pki/nssdb -A -t C,, -n stackctl -i " + q +
			"   (Firefox profiles: -d sql:<profile folder>; certutil is in libnss3-tools)",
	}
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./@:+=,") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
