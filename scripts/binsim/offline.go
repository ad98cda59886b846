package main

// Offline-then-flush mode: a bin whose network dropped keeps weighing, records
// each deposit with the time it happened and the code the resident showed, and
// uploads the backlog when the network is back, in batches of up to 500 through
// POST /api/v1/devices/deposits/batch. A batch that gets no answer or a 5xx is
// sent again (fresh timestamp and nonce, same events), as a real bin must: the
// server applies each event_id once, so the retry is safe.

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"
)

// shownCode is one visit: the time a resident showed the bin a code, and the code.
type shownCode struct {
	at    time.Time
	token string
}

// readTokens reads "<shown_at RFC 3339> <token>" lines (blank lines and # comments skipped).
func readTokens(path string) ([]shownCode, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []shownCode
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		at, tok, ok := strings.Cut(line, " ")
		t, err := time.Parse(time.RFC3339, at)
		if !ok || err != nil || strings.TrimSpace(tok) == "" {
			return nil, fmt.Errorf("%s:%d: want \"<shown_at RFC 3339> <token>\"", path, n)
		}
		out = append(out, shownCode{t, strings.TrimSpace(tok)})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no tokens", path)
	}
	return out, nil
}

// backlog builds the n events the bin buffered while offline: event i is a visit
// with code i (in turn), weighed a second after the code was shown. Codes shown
// before the offline period began are skipped (that bin was online then).
func backlog(o options, codes []shownCode, now time.Time) []map[string]any {
	var visits []shownCode
	for _, c := range codes {
		if !c.at.Before(now.Add(-o.offline)) {
			visits = append(visits, c)
		}
	}
	if len(visits) == 0 {
		return nil
	}
	events := make([]map[string]any, o.n)
	for i := range events {
		v := visits[i%len(visits)]
		grams := o.grams
		if grams == 0 {
			g, _ := rand.Int(rand.Reader, big.NewInt(1950))
			grams = 50 + int(g.Int64())
		}
		events[i] = map[string]any{"event_id": fmt.Sprintf("off-%d-%s-%05d", o.device, randomHex(6), i), "resident_token": v.token,
			"weight_grams": grams, "quality": o.quality, "occurred_at": v.at.Add(time.Second).Format(time.RFC3339)}
	}
	return events
}

type batchAnswer struct {
	Results []struct {
		EventID       string `json:"event_id"`
		PointsAwarded int    `json:"points_awarded"`
		Duplicate     bool   `json:"duplicate"`
		Error         *struct {
			Code string `json:"code"`
		} `json:"error"`
	} `json:"results"`
}

type upload struct {
	status  int
	tries   int
	answer  batchAnswer
	latency time.Duration
	err     error
}

// flush uploads one batch, retrying (up to 5 times, backing off) while the
// answer is missing or a 5xx.
func flush(ctx context.Context, client *http.Client, o options, body []byte) upload {
	var u upload
	start := time.Now()
	for u.tries = 1; ; u.tries++ {
		var out []byte
		u.status, out, u.err = send(ctx, client, o.url+"/api/v1/devices/deposits/batch", o.device, o.secret, body)
		if u.err == nil && u.status < 500 {
			if u.status == http.StatusOK {
				u.err = json.Unmarshal(out, &u.answer)
			}
			break
		}
		if u.tries == 5 || ctx.Err() != nil {
			break
		}
		time.Sleep(time.Duration(u.tries) * 200 * time.Millisecond)
	}
	u.latency = time.Since(start)
	return u
}

func runOffline(ctx context.Context, o options, stdout io.Writer) error {
	codes, err := readTokens(o.tokens)
	if err != nil {
		return err
	}
	events := backlog(o, codes, time.Now())
	if len(events) == 0 {
		return fmt.Errorf("no code in %s was shown within the last %s", o.tokens, o.offline)
	}
	var bodies [][]byte
	for start := 0; start < len(events); start += o.batch {
		b, err := json.Marshal(map[string]any{"events": events[start:min(start+o.batch, len(events))]})
		if err != nil {
			return err
		}
		bodies = append(bodies, b)
	}
	fmt.Fprintf(stdout, "offline %s: %d events buffered, flushing in %d batches of up to %d (each sent %d times)\n",
		o.offline, len(events), len(bodies), o.batch, o.repeat)

	client := &http.Client{Timeout: o.timeout, Transport: &http.Transport{MaxIdleConnsPerHost: o.c}}
	results := fanOut(o.c, func(emit func([]byte)) {
		for _, b := range bodies {
			for range o.repeat {
				emit(b)
			}
		}
	}, func(body []byte) upload { return flush(ctx, client, o, body) })
	byStatus := map[string]int{}
	refused := map[string]int{}
	var lat []time.Duration
	points, dups, answered, retries := 0, 0, 0, 0
	start := time.Now()
	for u := range results {
		key := fmt.Sprint(u.status)
		if u.err != nil {
			key = "error"
		}
		byStatus[key]++
		retries += u.tries - 1
		lat = append(lat, u.latency)
		for _, r := range u.answer.Results {
			answered++
			switch {
			case r.Error != nil:
				refused[r.Error.Code]++
			case r.Duplicate:
				dups++ // repeats the first answer's points: not credited again
			default:
				points += r.PointsAwarded
			}
		}
	}
	elapsed := time.Since(start)
	slices.Sort(lat)
	fmt.Fprintf(stdout, "uploads: %d in %s, by status: %v, retries: %d\n", len(lat), elapsed.Round(time.Millisecond), byStatus, retries)
	fmt.Fprintf(stdout, "events answered: %d, points credited: %d, duplicates: %d, refused: %v\n", answered, points, dups, refused)
	fmt.Fprintf(stdout, "upload latency p50 %s max %s\n", lat[len(lat)/2], lat[len(lat)-1])
	return nil
}
