// Command proxyd runs the embedded proxy alone in front of -upstream, for
// the benchmark (until `stackctl serve --no-app` takes its place).
package main

import (
	"flag"
	"log"
	"net"
	"os"
	"runtime/pprof"
	"time"

	"github.com/stackctl/stackctl/internal/proxy"
	"github.com/stackctl/stackctl/internal/stack"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "listen address")
	upstream := flag.String("upstream", "127.0.0.1:5000", "upstream address")
	config := flag.String("config", "", "stack.toml (default: a new project's defaults)")
	accessLog := flag.Bool("access-log", false, "write the access log to stderr")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the first 10s under load to this file")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			log.Fatal(err)
		}
		pprof.StartCPUProfile(f)
		go func() {
			time.Sleep(10 * time.Second)
			pprof.StopCPUProfile()
			f.Close()
		}()
	}
	cfg := stack.Default("bench", "go")
	if *config != "" {
		c, err := stack.Load(*config)
		if err != nil {
			log.Fatal(err)
		}
		cfg = c
	}
	opts := proxy.Options{Upstreams: []string{*upstream}}
	if *accessLog {
		opts.AccessLog = os.Stderr
	}
	p, err := proxy.New(cfg, opts)
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	log.Fatal(p.Serve(ln))
}
