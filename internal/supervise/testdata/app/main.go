// Command app is the test app of package supervise: a small web app that
// says which process and version answered, and can misbehave on request.
//
//	CRASH=1        exit with status 3 at once
//	GRANDCHILD=1   start a `sleep` in the same process group
//	IGNORE_TERM=1  ignore SIGTERM (only SIGKILL stops it)
//	HEALTH=503     answer /healthz with that status
package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

const version = "v1"

func main() {
	if os.Getenv("CRASH") == "1" {
		fmt.Println("crashing on purpose")
		os.Exit(3)
	}
	grandchild := 0
	if os.Getenv("GRANDCHILD") == "1" {
		c := exec.Command("sleep", "300")
		if err := c.Start(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		grandchild = c.Process.Pid
	}
	health := http.StatusOK
	if h := os.Getenv("HEALTH"); h != "" {
		health, _ = strconv.Atoi(h)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "pid=%d version=%s grandchild=%d\n", os.Getpid(), version, grandchild)
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(health)
	})
	mux.HandleFunc("/env", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, os.Getenv(r.URL.Query().Get("name")))
	})
	mux.HandleFunc("/args", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%q", os.Args[1:])
	})
	addr := net.JoinHostPort(os.Getenv("HOST"), os.Getenv("PORT"))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("%s listening on %s\n", version, addr)
	srv := &http.Server{Handler: mux}
	sigs := make(chan os.Signal, 1)
	if os.Getenv("IGNORE_TERM") == "1" {
		signal.Ignore(syscall.SIGTERM)
	} else {
		signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	}
	go func() {
		<-sigs
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}()
	if err := srv.Serve(ln); err != http.ErrServerClosed {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("stopped")
}
