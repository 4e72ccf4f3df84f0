// A MongoDB-protocol server for the adapter tests: FerretDB's embeddable
// package on a PostgreSQL database, listening on one TCP address until
// SIGTERM or SIGINT.
//
// Usage: ferretdb -listen 127.0.0.1:PORT -postgresql-url postgres://...
package main

import (
	"context"
	"flag"
	"log"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:27017", "TCP address to listen on")
	url := flag.String("postgresql-url", "", "PostgreSQL URL of the backing database")
	flag.Parse()

	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	server, err := ferretdb.New(&ferretdb.Config{
		Listener:      ferretdb.ListenerConfig{TCP: *listen},
		Logger:        logger,
		Handler:       "postgresql",
		PostgreSQLURL: *url,
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	log.Printf("listening on %s", *listen)
	server.Run(ctx)
}
