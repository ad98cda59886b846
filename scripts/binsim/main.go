// Command binsim is a smart-bin simulator: it signs deposit events exactly like a
// bin (api.md: HMAC-SHA256 over timestamp, nonce and the body's SHA-256) and posts
// them to POST /api/v1/devices/deposits, for demos and load tests.
//
//	# register a bin (staff) and get a resident code (POST /api/v1/points/code), then:
//	BINSIM_SECRET=<secret> go run ./scripts/binsim -url http://127.0.0.1:8080 \
//	    -device 1 -token <resident token> -grams 350 -n 1
//	# load: 2,000 events, 50 at a time, random weights 50 g - 2 kg
//	BINSIM_SECRET=... go run ./scripts/binsim -device 1 -token ... -n 2000 -c 50 -grams 0
//	# show idempotency: every event sent twice (second answer is duplicate: true)
//	BINSIM_SECRET=... go run ./scripts/binsim -device 1 -token ... -n 5 -repeat 2
//	# offline then flush: the bin lost its network for 72 h and buffered 2,000
//	# deposits, each at the time a resident showed a code (tokens.txt: one
//	# "<shown_at RFC 3339> <token>" per line, used in turn); when it is back it
//	# uploads the backlog through POST /api/v1/devices/deposits/batch, 500 at a
//	# time; -repeat 2 -c 2 sends every batch twice at once (a bin that retried)
//	BINSIM_SECRET=... go run ./scripts/binsim -device 1 -offline 72h -tokens tokens.txt \
//	    -n 2000 -batch 500 -repeat 2 -c 2
//
// The secret comes from $BINSIM_SECRET (or -secret, which leaves it in shell
// history). It prints a summary: answers by status, points awarded (credited:
// duplicate answers repeat the first answer's points and are not counted again),
// duplicates and latency percentiles.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"nantian/models/points"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "binsim:", err)
		os.Exit(1)
	}
}

type options struct {
	url, secret, token, quality string
	device                      int64
	grams, n, c, repeat         int
	timeout                     time.Duration
	offline                     time.Duration // > 0: buffer events, then flush them in batches
	tokens                      string        // offline: file of "<shown_at> <token>" lines
	batch                       int           // offline: events per upload
}

func parse(args []string, getenv func(string) string) (options, error) {
	var o options
	fs := flag.NewFlagSet("binsim", flag.ContinueOnError)
	fs.StringVar(&o.url, "url", "http://127.0.0.1:8080", "API base URL")
	fs.Int64Var(&o.device, "device", 0, "device id (X-Device-Id)")
	fs.StringVar(&o.secret, "secret", "", "device secret (prefer $BINSIM_SECRET)")
	fs.StringVar(&o.token, "token", "", "resident token from POST /api/v1/points/code")
	fs.IntVar(&o.grams, "grams", 350, "weight of each deposit; 0 = random 50 g - 2 kg")
	fs.StringVar(&o.quality, "quality", "ok", "ok or contaminated")
	fs.IntVar(&o.n, "n", 1, "number of events")
	fs.IntVar(&o.c, "c", 1, "concurrent requests")
	fs.IntVar(&o.repeat, "repeat", 1, "send each event this many times (idempotency demo)")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Second, "per-request timeout")
	fs.DurationVar(&o.offline, "offline", 0, "offline-then-flush mode: the bin was offline this long and uploads its backlog in batches")
	fs.StringVar(&o.tokens, "tokens", "", "offline mode: file of \"<shown_at RFC 3339> <resident token>\" lines, one per visit")
	fs.IntVar(&o.batch, "batch", points.MaxDepositBatch, "offline mode: events per batch upload (at most 500)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.secret == "" {
		o.secret = getenv("BINSIM_SECRET")
	}
	switch {
	case o.device <= 0:
		return o, errors.New("-device is required")
	case o.secret == "":
		return o, errors.New("set $BINSIM_SECRET (or -secret)")
	case o.offline > 0 && o.tokens == "":
		return o, errors.New("-offline needs -tokens (a token is only good at the time it was shown)")
	case o.offline > 0 && (o.batch < 1 || o.batch > points.MaxDepositBatch):
		return o, fmt.Errorf("-batch must be 1 to %d", points.MaxDepositBatch)
	case o.offline == 0 && o.token == "":
		return o, errors.New("-token is required")
	case o.n < 1 || o.c < 1 || o.repeat < 1:
		return o, errors.New("-n, -c and -repeat must be at least 1")
	case o.quality != "ok" && o.quality != "contaminated":
		return o, errors.New("-quality must be ok or contaminated")
	}
	return o, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Send signs and posts one event body as device id with secret.
func Send(ctx context.Context, client *http.Client, base string, device int64, secret string, body []byte) (int, []byte, error) {
	return send(ctx, client, base+"/api/v1/devices/deposits", device, secret, body)
}

// send signs body with a fresh timestamp and nonce and posts it to url.
func send(ctx context.Context, client *http.Client, url string, device int64, secret string, body []byte) (int, []byte, error) {
	ts := time.Now().Unix()
	nonce := randomHex(16)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(points.HeaderDeviceID, strconv.FormatInt(device, 10))
	req.Header.Set(points.HeaderTimestamp, strconv.FormatInt(ts, 10))
	req.Header.Set(points.HeaderNonce, nonce)
	req.Header.Set(points.HeaderSignature, points.SignDeposit([]byte(secret), ts, nonce, body))
	res, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	out, err := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	return res.StatusCode, out, err
}

type result struct {
	status    int
	points    int
	duplicate bool
	latency   time.Duration
	err       error
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	o, err := parse(args, getenv)
	if err != nil {
		return err
	}
	if o.offline > 0 {
		return runOffline(ctx, o, stdout)
	}
	client := &http.Client{Timeout: o.timeout, Transport: &http.Transport{MaxIdleConnsPerHost: o.c}}
	results := fanOut(o.c, func(emit func([]byte)) {
		for range o.n {
			grams := o.grams
			if grams == 0 {
				g, _ := rand.Int(rand.Reader, big.NewInt(1950))
				grams = 50 + int(g.Int64())
			}
			body, _ := json.Marshal(map[string]any{"event_id": "sim-" + randomHex(12), "resident_token": o.token,
				"weight_grams": grams, "quality": o.quality, "occurred_at": time.Now().Format(time.RFC3339)})
			for range o.repeat {
				emit(body)
			}
		}
	}, func(body []byte) result {
		start := time.Now()
		status, out, err := Send(ctx, client, o.url, o.device, o.secret, body)
		r := result{status: status, latency: time.Since(start), err: err}
		var ans struct {
			PointsAwarded int  `json:"points_awarded"`
			Duplicate     bool `json:"duplicate"`
		}
		if err == nil && status == http.StatusOK && json.Unmarshal(out, &ans) == nil {
			r.points, r.duplicate = ans.PointsAwarded, ans.Duplicate
		}
		return r
	})
	byStatus := map[string]int{}
	var lat []time.Duration
	points, dups := 0, 0
	start := time.Now()
	for r := range results {
		key := strconv.Itoa(r.status)
		if r.err != nil {
			key = "error"
		}
		byStatus[key]++
		if r.duplicate {
			dups++ // the server repeats the first answer's points: not credited again
		} else {
			points += r.points
		}
		lat = append(lat, r.latency)
	}
	elapsed := time.Since(start)
	slices.Sort(lat)
	pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	fmt.Fprintf(stdout, "requests: %d in %s (%.0f/s)\n", len(lat), elapsed.Round(time.Millisecond), float64(len(lat))/elapsed.Seconds())
	fmt.Fprintf(stdout, "by status: %v\n", byStatus)
	fmt.Fprintf(stdout, "points awarded: %d, duplicates: %d\n", points, dups)
	fmt.Fprintf(stdout, "latency p50 %s p95 %s p99 %s\n", pct(.5), pct(.95), pct(.99))
	return nil
}

// fanOut calls send on every body produce emits, c at a time, and streams the
// results; the channel closes when all are done.
func fanOut[R any](c int, produce func(emit func([]byte)), send func([]byte) R) <-chan R {
	jobs := make(chan []byte)
	results := make(chan R)
	var wg sync.WaitGroup
	for range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for body := range jobs {
				results <- send(body)
			}
		}()
	}
	go func() {
		produce(func(b []byte) { jobs <- b })
		close(jobs)
		wg.Wait()
		close(results)
	}()
	return results
}
