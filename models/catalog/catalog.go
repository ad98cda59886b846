package catalog

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"time"

	"nantian/models"
)

// Program kinds and audiences.
const (
	KindNightSchool = "night_school"
	KindChildcare   = "childcare"
	KindActivity    = "activity"

	AudienceElderly  = "elderly"
	AudienceChildren = "children"
	AudienceYouth    = "youth"
	AudienceAll      = "all"

	SessionOpen      = "open"
	SessionClosed    = "closed"
	SessionCancelled = "cancelled"
)

// ErrCapacityBelowBooked refuses shrinking a session below its live bookings.
var ErrCapacityBelowBooked = &models.Error{Kind: models.KindRule, Code: "capacity_below_booked", Message: "容量不能小于已预约人数"}

// Program is a course, a childcare service or an activity series.
type Program struct {
	ID               int64     `json:"id"`
	Kind             string    `json:"kind"`
	Title            string    `json:"title"`
	Description      string    `json:"description"`
	Category         string    `json:"category"`
	Audience         string    `json:"audience"`
	Venue            string    `json:"venue"`
	FeeFen           int64     `json:"fee_fen"`
	RequiresApproval bool      `json:"requires_approval"`
	MinAgeMonths     *int      `json:"min_age_months"`
	MaxAgeMonths     *int      `json:"max_age_months"`
	Status           string    `json:"status"`
	CreatedAt        time.Time `json:"created_at"`
}

// ProgramWithSessions is GET /programs/{id}: a program and its sessions that have
// not ended. Sessions is always in the JSON, an empty array when there are none:
// the mini-program iterates it directly, and a missing key is not an empty list.
type ProgramWithSessions struct {
	Program
	Sessions []Session `json:"sessions"`
}

// Session is one dated occurrence of a program with its own capacity.
type Session struct {
	ID             int64      `json:"id"`
	ProgramID      int64      `json:"program_id"`
	StartsAt       time.Time  `json:"starts_at"`
	EndsAt         time.Time  `json:"ends_at"`
	Venue          string     `json:"venue"`
	Capacity       int        `json:"capacity"`
	Booked         int        `json:"booked"`
	Remaining      int        `json:"remaining"`
	Waitlisted     int        `json:"waitlisted"`
	Status         string     `json:"status"`
	BookingOpensAt *time.Time `json:"booking_opens_at"`
}

// ProgramInput creates a program. requires_approval defaults by kind: night school
// and childcare need staff approval, activities confirm at once.
type ProgramInput struct {
	Kind             string `json:"kind" binding:"required,oneof=night_school childcare activity"`
	Title            string `json:"title" binding:"required,max=100"`
	Description      string `json:"description" binding:"max=5000"`
	Category         string `json:"category" binding:"max=32"`
	Audience         string `json:"audience" binding:"omitempty,oneof=elderly children youth all"`
	Venue            string `json:"venue" binding:"max=100"`
	FeeFen           *int64 `json:"fee_fen" binding:"omitempty,min=0,max=10000000"`
	RequiresApproval *bool  `json:"requires_approval"`
	MinAgeMonths     *int   `json:"min_age_months" binding:"omitempty,min=0,max=1500"`
	MaxAgeMonths     *int   `json:"max_age_months" binding:"omitempty,min=0,max=1500"`
}

// ProgramPatch changes a program; nil fields stay.
type ProgramPatch struct {
	Title            *string `json:"title" binding:"omitempty,min=1,max=100"`
	Description      *string `json:"description" binding:"omitempty,max=5000"`
	Category         *string `json:"category" binding:"omitempty,max=32"`
	Audience         *string `json:"audience" binding:"omitempty,oneof=elderly children youth all"`
	Venue            *string `json:"venue" binding:"omitempty,max=100"`
	FeeFen           *int64  `json:"fee_fen" binding:"omitempty,min=0,max=10000000"`
	RequiresApproval *bool   `json:"requires_approval"`
	MinAgeMonths     *int    `json:"min_age_months" binding:"omitempty,min=0,max=1500"`
	MaxAgeMonths     *int    `json:"max_age_months" binding:"omitempty,min=0,max=1500"`
	Status           *string `json:"status" binding:"omitempty,oneof=active archived"`
}

// SessionInput creates a session.
type SessionInput struct {
	StartsAt       time.Time  `json:"starts_at" binding:"required"`
	EndsAt         time.Time  `json:"ends_at" binding:"required"`
	Venue          string     `json:"venue" binding:"max=100"`
	Capacity       int        `json:"capacity" binding:"required,min=1,max=10000"`
	BookingOpensAt *time.Time `json:"booking_opens_at"`
}

// SessionPatch changes a session; capacity changes go through the booking engine
// so the Redis gate follows at once.
type SessionPatch struct {
	StartsAt       *time.Time `json:"starts_at"`
	EndsAt         *time.Time `json:"ends_at"`
	Venue          *string    `json:"venue" binding:"omitempty,max=100"`
	Capacity       *int       `json:"capacity" binding:"omitempty,min=1,max=10000"`
	BookingOpensAt *time.Time `json:"booking_opens_at"`
}

// checkSessionTimes refuses session times outside the sane years (models.SaneTime).
func checkSessionTimes(starts, ends time.Time, opens *time.Time) error {
	switch {
	case !models.SaneTime(starts):
		return models.Invalid("starts_at", "年份应在 %d 到 %d 之间", models.MinSaneYear, models.MaxSaneYear)
	case !models.SaneTime(ends):
		return models.Invalid("ends_at", "年份应在 %d 到 %d 之间", models.MinSaneYear, models.MaxSaneYear)
	case opens != nil && !models.SaneTime(*opens):
		return models.Invalid("booking_opens_at", "年份应在 %d 到 %d 之间", models.MinSaneYear, models.MaxSaneYear)
	}
	return nil
}

// ProgramFilter narrows the program list.
type ProgramFilter struct {
	Kind     string
	Audience string
	Page     models.Page
}

// Catalog stores programs and sessions.
type Catalog struct {
	DB  *sql.DB
	Now models.Clock
	Loc *time.Location // times are shown in the community's zone
	// DefaultChildMinAge/MaxAge apply to childcare programs created without limits.
	DefaultChildMinAge, DefaultChildMaxAge int
}

const programColumns = `id, kind, title, description, category, audience, venue, fee_fen, requires_approval, min_age_months, max_age_months, status, created_at`

func (s *Catalog) scanProgram(row interface{ Scan(...any) error }) (Program, error) {
	var p Program
	var minAge, maxAge sql.NullInt64
	err := row.Scan(&p.ID, &p.Kind, &p.Title, &p.Description, &p.Category, &p.Audience, &p.Venue, &p.FeeFen,
		&p.RequiresApproval, &minAge, &maxAge, &p.Status, &p.CreatedAt)
	if minAge.Valid {
		v := int(minAge.Int64)
		p.MinAgeMonths = &v
	}
	if maxAge.Valid {
		v := int(maxAge.Int64)
		p.MaxAgeMonths = &v
	}
	p.CreatedAt = models.InLoc(p.CreatedAt, s.Loc)
	return p, err
}

// SessionColumns are the columns ScanSession reads, for other areas' queries.
const SessionColumns = `s.id, s.program_id, s.starts_at, s.ends_at, s.venue, s.capacity, s.booked, s.waitlisted, s.status, s.booking_opens_at`

// ScanSession reads SessionColumns and fills the derived fields.
func (s *Catalog) ScanSession(row interface{ Scan(...any) error }) (Session, error) {
	var x Session
	err := row.Scan(&x.ID, &x.ProgramID, &x.StartsAt, &x.EndsAt, &x.Venue, &x.Capacity, &x.Booked, &x.Waitlisted, &x.Status, &x.BookingOpensAt)
	x.StartsAt = models.InLoc(x.StartsAt, s.Loc)
	x.EndsAt = models.InLoc(x.EndsAt, s.Loc)
	if x.BookingOpensAt != nil {
		t := models.InLoc(*x.BookingOpensAt, s.Loc)
		x.BookingOpensAt = &t
	}
	x.Remaining = max(0, x.Capacity-x.Booked)
	return x, err
}

// ListPrograms lists active programs by kind and audience. audience=all means
// programs for everyone, not "any audience"; leave it empty for any.
func (s *Catalog) ListPrograms(ctx context.Context, f ProgramFilter) ([]Program, error) {
	where := []string{"status = 'active'", "id > ?"}
	args := []any{f.Page.AfterID}
	if f.Kind != "" {
		where = append(where, "kind = ?")
		args = append(args, f.Kind)
	}
	if f.Audience != "" {
		where = append(where, "audience = ?")
		args = append(args, f.Audience)
	}
	args = append(args, f.Page.Limit)
	rows, err := s.DB.QueryContext(ctx, `SELECT `+programColumns+` FROM programs WHERE `+strings.Join(where, " AND ")+` ORDER BY id LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("list programs: %w", err)
	}
	return models.ScanAll(rows, "scan program", s.scanProgram)
}

// GetProgram returns a program without its sessions.
func (s *Catalog) GetProgram(ctx context.Context, id int64) (Program, error) {
	return models.ScanOne(s.DB.QueryRowContext(ctx, `SELECT `+programColumns+` FROM programs WHERE id = ?`, id), "get program", s.scanProgram)
}

// ProgramWithSessions returns the program and its sessions that have not ended.
func (s *Catalog) ProgramWithSessions(ctx context.Context, id int64) (ProgramWithSessions, error) {
	p, err := s.GetProgram(ctx, id)
	if err != nil {
		return ProgramWithSessions{}, err
	}
	sessions, err := s.UpcomingSessions(ctx, id)
	if err != nil {
		return ProgramWithSessions{}, err
	}
	return ProgramWithSessions{Program: p, Sessions: sessions}, nil
}

// UpcomingSessions lists a program's sessions that have not ended, oldest first.
func (s *Catalog) UpcomingSessions(ctx context.Context, programID int64) ([]Session, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT `+SessionColumns+` FROM sessions s WHERE s.program_id = ? AND s.ends_at > ? ORDER BY s.starts_at, s.id LIMIT 500`, programID, s.Now())
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	return models.ScanAll(rows, "scan session", s.ScanSession)
}

// GetSession returns one session.
func (s *Catalog) GetSession(ctx context.Context, id int64) (Session, error) {
	return models.ScanOne(s.DB.QueryRowContext(ctx, `SELECT `+SessionColumns+` FROM sessions s WHERE s.id = ?`, id), "get session", s.ScanSession)
}

// CreateProgram stores a new program.
func (s *Catalog) CreateProgram(ctx context.Context, in ProgramInput) (Program, error) {
	approval := in.Kind != KindActivity
	if in.RequiresApproval != nil {
		approval = *in.RequiresApproval
	}
	audience := in.Audience
	if audience == "" {
		audience = AudienceAll
		if in.Kind == KindChildcare {
			audience = AudienceChildren
		}
	}
	minAge, maxAge := in.MinAgeMonths, in.MaxAgeMonths
	if in.Kind == KindChildcare && minAge == nil && maxAge == nil {
		minAge, maxAge = &s.DefaultChildMinAge, &s.DefaultChildMaxAge
	}
	if minAge != nil && maxAge != nil && *maxAge < *minAge {
		return Program{}, models.Invalid("max_age_months", "不能小于 min_age_months")
	}
	var fee int64
	if in.FeeFen != nil {
		fee = *in.FeeFen
	}
	title := strings.TrimSpace(in.Title)
	if title == "" {
		return Program{}, models.Invalid("title", "不能为空")
	}
	now := s.Now()
	res, err := s.DB.ExecContext(ctx, `INSERT INTO programs (kind, title, description, category, audience, venue, fee_fen, requires_approval, min_age_months, max_age_months, status, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'active', ?, ?)`, in.Kind, title, in.Description, in.Category, audience, in.Venue, fee, approval, minAge, maxAge, now, now)
	if err != nil {
		return Program{}, fmt.Errorf("insert program: %w", err)
	}
	id, _ := res.LastInsertId()
	return s.GetProgram(ctx, id)
}

// PatchProgram changes a program's descriptive fields. A fee change applies to
// bookings made after it: each booking keeps the fee it was made with.
func (s *Catalog) PatchProgram(ctx context.Context, id int64, p ProgramPatch) (Program, error) {
	cur, err := s.GetProgram(ctx, id)
	if err != nil {
		return Program{}, err
	}
	sets := []string{"updated_at = ?"}
	args := []any{s.Now()}
	add := func(col string, v any) { sets = append(sets, col+" = ?"); args = append(args, v) }
	if p.Title != nil {
		t := strings.TrimSpace(*p.Title)
		if t == "" {
			return Program{}, models.Invalid("title", "不能为空")
		}
		add("title", t)
	}
	if p.Description != nil {
		add("description", *p.Description)
	}
	if p.Category != nil {
		add("category", *p.Category)
	}
	if p.Audience != nil {
		add("audience", *p.Audience)
	}
	if p.Venue != nil {
		add("venue", *p.Venue)
	}
	if p.FeeFen != nil {
		add("fee_fen", *p.FeeFen)
	}
	if p.RequiresApproval != nil {
		add("requires_approval", *p.RequiresApproval)
	}
	minAge, maxAge := cur.MinAgeMonths, cur.MaxAgeMonths
	if p.MinAgeMonths != nil {
		add("min_age_months", *p.MinAgeMonths)
		minAge = p.MinAgeMonths
	}
	if p.MaxAgeMonths != nil {
		add("max_age_months", *p.MaxAgeMonths)
		maxAge = p.MaxAgeMonths
	}
	if minAge != nil && maxAge != nil && *maxAge < *minAge {
		return Program{}, models.Invalid("max_age_months", "不能小于 min_age_months")
	}
	if p.Status != nil {
		add("status", *p.Status)
	}
	args = append(args, id)
	if _, err := s.DB.ExecContext(ctx, `UPDATE programs SET `+strings.Join(sets, ", ")+` WHERE id = ?`, args...); err != nil {
		return Program{}, fmt.Errorf("update program: %w", err)
	}
	return s.GetProgram(ctx, id)
}

// CreateSession adds a session to a program.
func (s *Catalog) CreateSession(ctx context.Context, programID int64, in SessionInput) (Session, error) {
	p, err := s.GetProgram(ctx, programID)
	if err != nil {
		return Session{}, err
	}
	if err := checkSessionTimes(in.StartsAt, in.EndsAt, in.BookingOpensAt); err != nil {
		return Session{}, err
	}
	if !in.EndsAt.After(in.StartsAt) {
		return Session{}, models.Invalid("ends_at", "必须晚于 starts_at")
	}
	if !in.StartsAt.After(s.Now()) {
		// A session already started would be listed as open but unbookable, and
		// could be closed at once, marking nobody. Past records come in through
		// the history import.
		return Session{}, models.Invalid("starts_at", "不能早于现在（历史记录请用导入）")
	}
	if in.BookingOpensAt != nil && in.BookingOpensAt.After(in.StartsAt) {
		return Session{}, models.Invalid("booking_opens_at", "必须早于 starts_at")
	}
	venue := strings.TrimSpace(in.Venue)
	if venue == "" {
		venue = p.Venue
	}
	now := s.Now()
	res, err := models.ExecRetry(ctx, s.DB, `INSERT INTO sessions (program_id, starts_at, ends_at, venue, capacity, booked, waitlisted, status, booking_opens_at, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, 0, 0, 'open', ?, ?, ?)`, programID, in.StartsAt.UTC(), in.EndsAt.UTC(), venue, in.Capacity, models.NullTime(in.BookingOpensAt), now, now)
	if err != nil {
		return Session{}, fmt.Errorf("insert session: %w", err)
	}
	id, _ := res.LastInsertId()
	return s.GetSession(ctx, id)
}

// PatchSession changes a session's times, venue or capacity. Capacity never goes
// below the live bookings (the guard is in the UPDATE itself, so a booking that
// lands meanwhile cannot be squeezed out). Callers that run the Redis gate must
// resize it afterwards.
func (s *Catalog) PatchSession(ctx context.Context, id int64, p SessionPatch) (Session, error) {
	cur, err := s.GetSession(ctx, id)
	if err != nil {
		return Session{}, err
	}
	starts, ends := cur.StartsAt, cur.EndsAt
	if p.StartsAt != nil {
		starts = *p.StartsAt
	}
	if p.EndsAt != nil {
		ends = *p.EndsAt
	}
	if err := checkSessionTimes(starts, ends, p.BookingOpensAt); err != nil {
		return Session{}, err
	}
	if p.StartsAt != nil && !p.StartsAt.Equal(cur.StartsAt) && !p.StartsAt.After(s.Now()) {
		return Session{}, models.Invalid("starts_at", "不能改到现在之前")
	}
	if !ends.After(starts) {
		return Session{}, models.Invalid("ends_at", "必须晚于 starts_at")
	}
	// As in CreateSession: booking cannot open after the session starts.
	opens := cur.BookingOpensAt
	if p.BookingOpensAt != nil {
		opens = p.BookingOpensAt
	}
	if opens != nil && opens.After(starts) {
		return Session{}, models.Invalid("booking_opens_at", "必须早于 starts_at")
	}
	sets := []string{"updated_at = ?", "starts_at = ?", "ends_at = ?"}
	args := []any{s.Now(), starts.UTC(), ends.UTC()}
	if p.Venue != nil {
		sets = append(sets, "venue = ?")
		args = append(args, *p.Venue)
	}
	if p.BookingOpensAt != nil {
		sets = append(sets, "booking_opens_at = ?")
		args = append(args, p.BookingOpensAt.UTC())
	}
	where := "id = ?"
	args2 := []any{id}
	if p.Capacity != nil {
		sets = append(sets, "capacity = ?")
		args = append(args, *p.Capacity)
		where += " AND booked <= ?"
		args2 = append(args2, *p.Capacity)
	}
	res, err := models.ExecRetry(ctx, s.DB, `UPDATE sessions SET `+strings.Join(sets, ", ")+` WHERE `+where, append(args, args2...)...)
	if err != nil {
		return Session{}, fmt.Errorf("update session: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 && p.Capacity != nil {
		return Session{}, ErrCapacityBelowBooked
	}
	return s.GetSession(ctx, id)
}

// CatalogCache keeps encoded catalogue answers (a program with its sessions, one
// session) in process memory for TTL, so a crowd refreshing a popular course does
// not rebuild it from MySQL on every request. Every change on this instance that
// moves a program's counts (a booking, a cancel, a capacity change) invalidates
// the program at once; other instances' copies are at most TTL old. A load that
// raced an invalidation is not stored (generation check), so a stale answer can
// never outlive the TTL.
type CatalogCache struct {
	TTL time.Duration

	mu       sync.RWMutex
	gens     map[int64]uint64      // program id → generation, bumped on invalidation
	programs map[int64]cachedEntry // program id → body
	sessions map[int64]cachedEntry // session id → body
	owners   map[int64]int64       // session id → program id
}

type cachedEntry struct {
	body      []byte
	programID int64
	gen       uint64
	loaded    time.Time
}

func (c *CatalogCache) lookup(m map[int64]cachedEntry, id int64) ([]byte, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	e, ok := m[id]
	if !ok || time.Since(e.loaded) >= c.TTL || c.gens[e.programID] != e.gen {
		return nil, false
	}
	return e.body, true
}

func (c *CatalogCache) gen(programID int64) uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.gens[programID]
}

func (c *CatalogCache) store(which *map[int64]cachedEntry, id, programID int64, gen uint64, body []byte, loaded time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gens[programID] != gen {
		return // invalidated while loading
	}
	if *which == nil || len(*which) > 10_000 {
		*which = map[int64]cachedEntry{}
	}
	(*which)[id] = cachedEntry{body: body, programID: programID, gen: gen, loaded: loaded}
}

// Program returns the cached body for a program, or runs load (which returns the
// encoded body) and caches it.
func (c *CatalogCache) Program(id int64, load func() ([]byte, error)) ([]byte, error) {
	if b, ok := c.lookup(c.programs, id); ok {
		return b, nil
	}
	g, t := c.gen(id), time.Now()
	b, err := load()
	if err != nil {
		return nil, err
	}
	c.store(&c.programs, id, id, g, b, t)
	return b, nil
}

// Session returns the cached body for a session; load returns the body and the
// session's program (which invalidation goes by). The first load of a session only
// learns its program (a session never moves to another program); later loads read
// the generation before loading, like Program.
func (c *CatalogCache) Session(id int64, load func() ([]byte, int64, error)) ([]byte, error) {
	if b, ok := c.lookup(c.sessions, id); ok {
		return b, nil
	}
	c.mu.RLock()
	pid, known := c.owners[id]
	c.mu.RUnlock()
	var g uint64
	if known {
		g = c.gen(pid)
	}
	t := time.Now()
	b, loadedPID, err := load()
	if err != nil {
		return nil, err
	}
	if !known {
		c.mu.Lock()
		if c.owners == nil || len(c.owners) > 100_000 {
			c.owners = map[int64]int64{}
		}
		c.owners[id] = loadedPID
		c.mu.Unlock()
		return b, nil
	}
	c.store(&c.sessions, id, pid, g, b, t)
	return b, nil
}

// Invalidate drops everything cached about a program and its sessions.
func (c *CatalogCache) Invalidate(programID int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gens == nil {
		c.gens = map[int64]uint64{}
	}
	c.gens[programID]++
	delete(c.programs, programID)
}
