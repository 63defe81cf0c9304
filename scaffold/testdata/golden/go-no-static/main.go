// Command shop is a small web app made by `stackctl new`.
//
// It listens on HOST:PORT (default 127.0.0.1:5001) and is meant to be
// reached through a reverse proxy: `stackctl serve` locally, nginx in
// production. It answers:
//
//	/          an HTML page saying hello, with the client's address
//	/healthz   200 "ok", for readiness checks
package main

import (
	"context"
	"embed"
	"errors"
	"html/template"
	"log"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// files holds the page template, so the binary
// works from any folder.
//
//go:embed templates
var files embed.FS

// Default address: loopback only, so the app is reached through the proxy.
const (
	defaultHost = "127.0.0.1"
	defaultPort = "5001"
)

// shutdownTimeout is how long requests in flight get to finish on SIGINT/SIGTERM.
const shutdownTimeout = 10 * time.Second

func main() {
	logger := log.New(os.Stderr, "", log.LstdFlags)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	ln, err := net.Listen("tcp", listenAddr(os.Getenv))
	if err != nil {
		logger.Fatal(err)
	}
	if err := run(ctx, ln, newHandler(logger), logger); err != nil {
		logger.Fatal(err)
	}
}

// listenAddr returns HOST:PORT from the environment, with the defaults for
// what is not set.
func listenAddr(getenv func(string) string) string {
	host, port := getenv("HOST"), getenv("PORT")
	if host == "" {
		host = defaultHost
	}
	if port == "" {
		port = defaultPort
	}
	return net.JoinHostPort(host, port)
}

// run serves on ln until ctx is done, then shuts down gracefully: it stops
// accepting and waits for requests in flight.
func run(ctx context.Context, ln net.Listener, h http.Handler, logger *log.Logger) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          logger,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	logger.Printf("listening on http://%s", ln.Addr())

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	logger.Printf("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// newHandler returns the app's routes, each request logged.
func newHandler(logger *log.Logger) http.Handler {
	page := template.Must(template.ParseFS(files, "templates/index.html"))
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		client, viaProxy := clientAddr(r)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		err := page.Execute(w, pageData{Name: "shop", Client: client, ViaProxy: viaProxy})
		if err != nil {
			logger.Printf("render /: %v", err)
		}
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	})
	return logRequests(logger, mux)
}

// pageData is what templates/index.html shows.
type pageData struct {
	Name     string
	Client   string // the client's IP address
	ViaProxy bool   // Client came from the proxy's X-Real-IP
}

// clientAddr returns the client's address. The app trusts exactly one
// proxy, on the same machine: X-Real-IP is believed only when the
// connection comes from loopback, so nobody can spoof it from outside.
func clientAddr(r *http.Request) (addr string, viaProxy bool) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return host, false
	}
	if peer.IsLoopback() {
		if real, err := netip.ParseAddr(strings.TrimSpace(r.Header.Get("X-Real-IP"))); err == nil {
			return real.String(), true
		}
	}
	return peer.String(), false
}

// statusRecorder remembers the status and size of a response for the log.
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += n
	return n, err
}

// Unwrap lets http.ResponseController reach the real writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// logRequests logs one line per request: client, method, path, status,
// bytes and time taken.
func logRequests(logger *log.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		client, _ := clientAddr(r)
		logger.Printf("%s %s %q %d %d %s", client, r.Method, r.URL.RequestURI(), rec.status, rec.bytes, time.Since(start).Round(time.Microsecond))
	})
}
