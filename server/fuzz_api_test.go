package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/gin-gonic/gin"

	"nantian/config"
	"nantian/handlers"
	"nantian/models"
	"nantian/models/account"
	"nantian/models/points"
	"nantian/models/testdb"
)

// fuzzEnv is one app shared by every iteration of the API fuzz target in this
// process (a fuzz worker runs many inputs; building an app per input would be
// far too slow). Its database is the package's throwaway one and its Redis keys
// sit under the run's test prefix, which scripts/test.sh removes.
type fuzzEnv struct {
	handler http.Handler
	routes  gin.RoutesInfo
	token   string
}

var (
	fuzzOnce sync.Once
	fuzzE    *fuzzEnv
	fuzzErr  error
)

// fuzzSkip are routes whose success would end the fuzzing identity itself.
var fuzzSkip = map[string]bool{
	"POST /api/v1/auth/logout": true,
	"DELETE /api/v1/me":        true,
}

func getFuzzEnv() (*fuzzEnv, error) {
	fuzzOnce.Do(func() {
		ctx := context.Background()
		cfg, err := config.Load(testEnv(testdb.RedisPrefix(), nil))
		if err != nil {
			fuzzErr = err
			return
		}
		a, err := newApp(ctx, cfg, slog.New(slog.NewJSONHandler(io.Discard, nil)))
		if err != nil {
			fuzzErr = err
			return
		}
		u, err := a.users.UpsertWeChat(ctx, "openid-fuzz-staff", "")
		if err == nil {
			_, err = a.users.SetRole(ctx, u.ID, models.RoleStaff)
		}
		var pair account.TokenPair
		if err == nil {
			pair, err = a.tokens.NewLogin(ctx, u.ID, models.RoleStaff)
		}
		if err != nil {
			fuzzErr = err
			return
		}
		e := &fuzzEnv{handler: a.handler, token: pair.AccessToken}
		for _, r := range a.handler.(*gin.Engine).Routes() {
			if !fuzzSkip[r.Method+" "+r.Path] {
				e.routes = append(e.routes, r)
			}
		}
		fuzzE = e
	})
	return fuzzE, fuzzErr
}

// FuzzRequestBodies sends arbitrary bodies to every route of the router (as a
// staff member, so staff and resident decoders are both reached) and fails on any
// 5xx but 503: every request decoder must answer bad input with a 4xx.
func FuzzRequestBodies(f *testing.F) {
	seeds := []string{
		`{}`, `[]`, `null`, `"x"`, `{"session_id": 1}`, `{"session_id": -1, "waitlist": "yes"}`,
		`{"code": ""}`, `{"name": "小明", "birth_date": "2024-02-30", "guardian_consent": true}`,
		`{"kind": "activity", "title": "t", "fee_fen": 1e99}`, `{"starts_at": "2030-01-01T00:00:00Z", "ends_at": "2029-01-01T00:00:00Z", "capacity": 1}`,
		`{"category": "其他", "content": "` + strings.Repeat("长", 1001) + `", "estate": "南天一花园", "location": "x"}`,
		`{"score": 9}`, `{"reward_id": 1}`, `{"role": "root"}`, `{"template_ids": [1,2]}`, `{"code": {"a": 1}}`,
		"kind,title\nactivity,x", `{"event_id": "e", "weight_grams": -5}`, "\x00\xff", `{"capacity": 0}`,
	}
	for i := 0; i < 80; i++ {
		f.Add(uint8(i), []byte(seeds[i%len(seeds)]))
	}
	f.Fuzz(func(t *testing.T, idx uint8, body []byte) {
		e, err := getFuzzEnv()
		if err != nil {
			t.Fatalf("fuzz app: %v", err)
		}
		rt := e.routes[int(idx)%len(e.routes)]
		path := strings.NewReplacer(":pickup_code", "PICKUP01", ":id", "1").Replace(rt.Path)
		req := httptest.NewRequest(rt.Method, path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+e.token)
		rec := httptest.NewRecorder()
		e.handler.ServeHTTP(rec, req)
		if rec.Code >= 500 && rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("%s %s with %q: %d %s", rt.Method, path, body, rec.Code, rec.Body.String())
		}
	})
}

var (
	batchFuzzOnce sync.Once
	batchFuzzApp  *app
	batchFuzzDev  points.Authenticated
	batchFuzzKey  string
	batchFuzzErr  error
)

// FuzzDepositBatch signs arbitrary batch bodies correctly (or, when tamper is set,
// signs one body and sends another) and posts them to the real batch webhook.
// Whatever the body, the answer is 200, 400 or 413 when signed (401 when
// tampered), never a 5xx but 503; a 200 has one result per event in order, each
// with an error or non-negative points, and the same body sent again credits
// nothing: every event that was applied answers duplicate with the same points.
func FuzzDepositBatch(f *testing.F) {
	ev := `{"event_id":"fz-1","resident_token":"x","weight_grams":350,"quality":"ok","occurred_at":"2030-01-01T00:00:00Z"}`
	for _, s := range []string{`{"events":[` + ev + `]}`, `{"events":[` + ev + `,` + ev + `]}`, `{"events":[]}`, `{"events":null}`,
		`{"events":[1,"x",null,{},[]]}`, `{"events":[{"event_id":"` + strings.Repeat("é", 40) + `"}]}`, `{"events":[{"weight_grams":1e400}]}`,
		`{"events":[` + ev + `]} trailing`, `{"EVENTS":[{}]}`, `[]`, ``, "\xff"} {
		f.Add([]byte(s), false)
	}
	f.Add([]byte(`{"events":[`+ev+`]}`), true)
	f.Fuzz(func(t *testing.T, body []byte, tamper bool) {
		batchFuzzOnce.Do(func() {
			ctx := context.Background()
			cfg, err := config.Load(testEnv(testdb.RedisPrefix(), nil))
			if err == nil {
				batchFuzzApp, err = newApp(ctx, cfg, slog.New(slog.NewJSONHandler(io.Discard, nil)))
			}
			if err == nil {
				var d points.Device
				d, batchFuzzKey, err = batchFuzzApp.pts.devices.Create(ctx, 0, points.DeviceInput{Estate: "南天二花园", Name: "fuzz-bin"})
				batchFuzzDev = points.Authenticated{ID: d.ID, Estate: d.Estate}
			}
			batchFuzzErr = err
		})
		if batchFuzzErr != nil {
			t.Fatalf("fuzz app: %v", batchFuzzErr)
		}
		post := func(b []byte) *httptest.ResponseRecorder {
			d := newDeposit(batchFuzzDev.ID, batchFuzzKey, b)
			if tamper {
				d.signBody = append(bytes.Clone(b), ' ')
			}
			req := httptest.NewRequest("POST", "/api/v1/devices/deposits/batch", bytes.NewReader(b))
			h := d.headers()
			for i := 0; i+1 < len(h); i += 2 {
				req.Header.Set(h[i], h[i+1])
			}
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			batchFuzzApp.handler.ServeHTTP(rec, req)
			return rec
		}
		rec := post(body)
		switch {
		case tamper && rec.Code != http.StatusUnauthorized:
			t.Fatalf("tampered body: %d %s", rec.Code, rec.Body)
		case rec.Code >= 500 && rec.Code != http.StatusServiceUnavailable:
			t.Fatalf("%q: %d %s", body, rec.Code, rec.Body)
		case rec.Code != http.StatusOK:
			return
		}
		events, msg := handlers.ParseDepositBatch(body)
		if msg != "" {
			t.Fatalf("200 for a body the parser refuses (%s)", msg)
		}
		var first batchResults
		if err := json.Unmarshal(rec.Body.Bytes(), &first); err != nil || len(first.Results) != len(events) {
			t.Fatalf("%d results for %d events: %v %s", len(first.Results), len(events), err, rec.Body)
		}
		for i, r := range first.Results {
			if r.PointsAwarded < 0 || (r.Error != nil && (r.PointsAwarded != 0 || r.Duplicate)) {
				t.Fatalf("result %d: %+v", i, r)
			}
		}
		again := post(body)
		var second batchResults
		if err := json.Unmarshal(again.Body.Bytes(), &second); again.Code != http.StatusOK || err != nil || len(second.Results) != len(events) {
			t.Fatalf("replay: %d %s", again.Code, again.Body)
		}
		for i, r := range first.Results {
			if r.Error == nil && (!second.Results[i].Duplicate || second.Results[i].PointsAwarded != r.PointsAwarded) {
				t.Fatalf("event %d applied twice: %+v then %+v", i, r, second.Results[i])
			}
		}
	})
}
