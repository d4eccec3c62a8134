// Command ferretdb runs an embedded FerretDB (MongoDB wire protocol on SQLite)
// for local development and tests. Logs go to stderr.
//
// With -tls-listen it also listens with TLS (off by default): -tls-cert and
// -tls-key are the server's certificate and key, and -tls-ca, if given, makes
// clients present a certificate signed by that CA.
package main

import (
	"context"
	"flag"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:27017", "TCP address to listen on (empty: none)")
	data := flag.String("data", ".data/ferretdb", "SQLite data directory (created if missing)")
	tlsListen := flag.String("tls-listen", "", "TLS address to listen on (empty: none)")
	tlsCert := flag.String("tls-cert", "", "server certificate (PEM) for -tls-listen")
	tlsKey := flag.String("tls-key", "", "server private key (PEM) for -tls-listen")
	tlsCA := flag.String("tls-ca", "", "CA (PEM) that client certificates must be signed by (empty: none asked)")
	flag.Parse()

	if *listen == "" && *tlsListen == "" {
		log.Fatal("nothing to listen on: set -listen or -tls-listen")
	}
	if *tlsListen != "" && (*tlsCert == "" || *tlsKey == "") {
		log.Fatal("-tls-listen needs -tls-cert and -tls-key")
	}

	dir, err := filepath.Abs(*data)
	if err == nil {
		err = os.MkdirAll(dir, 0o755)
	}
	if err != nil {
		log.Fatalf("data dir: %v", err)
	}

	f, err := ferretdb.New(&ferretdb.Config{
		Listener: ferretdb.ListenerConfig{
			TCP:         *listen,
			TLS:         *tlsListen,
			TLSCertFile: *tlsCert,
			TLSKeyFile:  *tlsKey,
			TLSCAFile:   *tlsCA,
		},
		Handler:   "sqlite",
		SQLiteURL: "file:" + dir + "/",
	})
	if err != nil {
		log.Fatalf("ferretdb: %v", err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *listen != "" {
		log.Printf("ferretdb listening on %s, data in %s", *listen, dir)
	}
	if *tlsListen != "" {
		log.Printf("ferretdb listening with TLS on %s, data in %s", *tlsListen, dir)
	}
	if err := f.Run(ctx); err != nil {
		log.Fatalf("ferretdb: %v", err)
	}
	log.Print("ferretdb stopped")
}
