// Command nantian is the 南天社区 resident mini-program backend.
//
// Usage: nantian [serve|migrate|seed-demo|grant-role --openid OPENID --role ROLE]
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	// The schedule, daily points cap and report years are in Asia/Shanghai time.
	// Embedding the zone database (~450 KB) means a minimal image or a host
	// without /usr/share/zoneinfo still starts instead of failing on APP_TIMEZONE.
	_ "time/tzdata"

	"nantian/config"
)

func main() {
	// A .env file is a dev convenience (api.md): read it only outside production,
	// and never over variables the environment already sets.
	if env := os.Getenv("APP_ENV"); env == "" || env == "dev" {
		if err := config.LoadDotEnv(".env"); err != nil {
			fmt.Fprintln(os.Stderr, "nantian: .env:", err)
			os.Exit(1)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The first signal starts a graceful shutdown; un-registering then gives a
	// second Ctrl-C (or SIGTERM) its default effect, so an operator can still
	// kill a shutdown stuck on a slow request without reaching for kill -9.
	go func() {
		<-ctx.Done()
		stop()
	}()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "nantian:", err)
		os.Exit(1)
	}
}

// usage is printed for an unknown subcommand.
const usage = `usage: nantian [command]
  serve                                    run the API (default); migrates first unless AUTO_MIGRATE=false
  migrate                                  apply pending database migrations and exit
  seed-demo                                load the 南天社区 demo catalogue (idempotent)
  grant-role --openid OPENID --role ROLE   make a user resident, staff or admin (creates it if needed)
  rotate-data-key                          re-seal personal data under DATA_KEY (set DATA_KEY_PREVIOUS to the old key)
  healthcheck                              exit 0 when GET /healthz on HTTP_ADDR answers 200 (Docker HEALTHCHECK)
`

// run is main without the process: tests call it with their own args, environment
// and output, and stop it by cancelling ctx.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return cmdServe(ctx, getenv, stdout, stderr)
	case "migrate":
		return cmdMigrate(ctx, getenv, stdout, stderr)
	case "seed-demo":
		return cmdSeedDemo(ctx, getenv, stdout, stderr)
	case "grant-role":
		return cmdGrantRole(ctx, args, getenv, stdout, stderr)
	case "rotate-data-key":
		return cmdRotateDataKey(ctx, getenv, stdout)
	case "healthcheck":
		return cmdHealthcheck(ctx, getenv)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", cmd)
}
