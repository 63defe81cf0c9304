// Command fasthttpproxy is a benchmark contender: a minimal reverse proxy
// on valyala/fasthttp, setting the same headers as gen-nginx's location.
// It is the calibration point for "a fasthttp core", not a product.
package main

import (
	"flag"
	"log"

	"github.com/valyala/fasthttp"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8081", "listen address")
	upstream := flag.String("upstream", "127.0.0.1:5000", "upstream address")
	flag.Parse()
	client := &fasthttp.HostClient{
		Addr:                          *upstream,
		MaxConns:                      1024,
		DisableHeaderNamesNormalizing: true,
		DisablePathNormalizing:        true,
	}
	handler := func(ctx *fasthttp.RequestCtx) {
		req := &ctx.Request
		req.Header.Set("X-Real-IP", ctx.RemoteIP().String())
		req.Header.Set("X-Forwarded-For", ctx.RemoteIP().String())
		req.Header.Set("X-Forwarded-Proto", "http")
		req.Header.Del("Connection")
		if err := client.Do(req, &ctx.Response); err != nil {
			ctx.Error("bad gateway", fasthttp.StatusBadGateway)
		}
		ctx.Response.Header.Del("Connection")
	}
	srv := &fasthttp.Server{
		Handler:                       handler,
		DisableHeaderNamesNormalizing: true,
		Name:                          "fasthttpproxy",
	}
	log.Fatal(srv.ListenAndServe(*listen))
}
