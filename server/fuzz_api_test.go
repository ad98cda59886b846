package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/gin-gonic/gin"

	"nantian/config"
	"nantian/models"
	"nantian/models/account"
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
