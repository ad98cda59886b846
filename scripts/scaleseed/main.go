// Command scaleseed builds a district-size (or demo-size) data set into a database
// of its own; see models/scaleseed and scripts/scale-seed.
//
//	go run ./scripts/scaleseed -db nantian_scale -size district
//	go run ./scripts/scaleseed -db nantian_scale_demo -size demo
//
// The database is dropped and recreated (only names starting with nantian_scale
// are accepted, so a typo cannot wipe the dev or a test database). Redis keys under
// the prefix printed at the end are deleted: the service rebuilds a missing booking
// gate from MySQL on demand, so a fresh prefix is a consistent gate.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/redis/go-redis/v9"

	"nantian/config"
	"nantian/models"
	"nantian/models/scaleseed"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "scale-seed:", err)
		os.Exit(1)
	}
}

func env(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func run() error {
	db := flag.String("db", env("SCALE_DB", "nantian_scale"), "database to build (dropped and recreated; must start with nantian_scale)")
	size := flag.String("size", env("SCALE_SIZE", ""), "district or demo (default: demo when -db ends in _demo, else district)")
	server := flag.String("mysql", env("SCALE_MYSQL", "root:@tcp(127.0.0.1:3306)/"), "MySQL server DSN without a database")
	redisAddr := flag.String("redis", env("REDIS_ADDR", "127.0.0.1:6379"), "Redis to clear the database's gate keys in")
	seed := flag.Uint64("seed", 15, "random seed")
	tz := flag.String("tz", env("APP_TIMEZONE", "Asia/Shanghai"), "APP_TIMEZONE the service will run with")
	flag.Parse()
	if !strings.HasPrefix(*db, "nantian_scale") {
		return fmt.Errorf("-db %q: only databases named nantian_scale* are built here", *db)
	}
	if *size == "" {
		*size = "district"
		if strings.HasSuffix(*db, "_demo") {
			*size = "demo"
		}
	}
	var sz scaleseed.Size
	switch *size {
	case "district":
		sz = scaleseed.District
	case "demo":
		sz = scaleseed.Demo
	default:
		return fmt.Errorf("-size %q: want district or demo", *size)
	}
	loc, err := time.LoadLocation(*tz)
	if err != nil {
		return fmt.Errorf("-tz: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))

	cfg, err := mysql.ParseDSN(*server)
	if err != nil {
		return fmt.Errorf("-mysql: %w", err)
	}
	admin, err := models.OpenDB(ctx, cfg.FormatDSN())
	if err != nil {
		return err
	}
	for _, q := range []string{"DROP DATABASE IF EXISTS `" + *db + "`",
		"CREATE DATABASE `" + *db + "` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"} {
		if _, err := admin.ExecContext(ctx, q); err != nil {
			admin.Close()
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	admin.Close()
	cfg.DBName = *db
	cfg.ParseTime = true
	cfg.Loc = time.UTC
	// A LOAD DATA of millions of rows answers once, at the end: no read timeout.
	cfg.ReadTimeout, cfg.WriteTimeout = time.Hour, time.Hour
	dsn := cfg.FormatDSN()

	t0 := time.Now()
	log.Info("building", "db", *db, "size", sz.Describe())
	err = scaleseed.Build(ctx, dsn, scaleseed.Options{
		Size: sz, Loc: loc, Now: time.Now(), Seed: *seed, Log: log,
		DataKey:  env("DATA_KEY", config.DevDataKey),
		PointKey: env("POINTS_DEVICE_KEY", config.DevPointsDeviceKey),
	})
	if err != nil {
		return err
	}
	conn, err := models.OpenDB(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := scaleseed.Verify(ctx, conn); err != nil {
		return err
	}
	prefix := "scale:" + *db + ":"
	rdb := redis.NewClient(&redis.Options{Addr: *redisAddr})
	defer rdb.Close()
	iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		rdb.Del(ctx, iter.Val())
	}
	if err := iter.Err(); err != nil {
		log.Warn("could not clear Redis keys (the gate rebuilds from MySQL anyway)", "err", err)
	}
	log.Info("done", "db", *db, "seconds", time.Since(t0).Seconds())
	fmt.Printf("MYSQL_DSN='%s' REDIS_KEY_PREFIX='%s'\n", "root:@tcp(127.0.0.1:3306)/"+*db+"?parseTime=true&loc=UTC&charset=utf8mb4", prefix)
	return nil
}
