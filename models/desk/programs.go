package desk

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"nantian/models"
	"nantian/models/catalog"
)

// ProgramRow is one line of the console's program list: the program and how
// many of its sessions are still to come.
type ProgramRow struct {
	catalog.Program
	Upcoming    int
	NextStartAt *time.Time
}

// Programs lists every program, active first then archived, newest first,
// with its upcoming sessions counted (one query, no per-program reads).
func (r *Reader) Programs(ctx context.Context) ([]ProgramRow, error) {
	rows, err := r.DB.QueryContext(ctx, `SELECT p.id, p.kind, p.title, p.category, p.audience, p.venue, p.fee_fen,
			p.requires_approval, p.status, p.created_at, COUNT(s.id), MIN(s.starts_at)
		FROM programs p
		LEFT JOIN sessions s ON s.program_id = p.id AND s.ends_at > ? AND s.status <> 'cancelled'
		GROUP BY p.id ORDER BY p.status = 'active' DESC, p.id DESC LIMIT 500`, r.Now())
	if err != nil {
		return nil, fmt.Errorf("%w: programs: %w", models.ErrUnavailable, err)
	}
	defer rows.Close()
	var out []ProgramRow
	for rows.Next() {
		var p ProgramRow
		var next *time.Time
		if err := rows.Scan(&p.ID, &p.Kind, &p.Title, &p.Category, &p.Audience, &p.Venue, &p.FeeFen,
			&p.RequiresApproval, &p.Status, &p.CreatedAt, &p.Upcoming, &next); err != nil {
			return nil, fmt.Errorf("scan program row: %w", err)
		}
		p.CreatedAt = p.CreatedAt.In(r.Loc)
		if next != nil {
			t := next.In(r.Loc)
			p.NextStartAt = &t
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// MaxSeriesSessions bounds one series: a year of weekly sessions, or a term
// of several days a week.
const MaxSeriesSessions = 100

// SeriesSpec describes sessions repeating every week: "every Tuesday
// 19:00–20:30 for 8 weeks from 2026-12-08, 20 places". Times are wall-clock
// times in the community's zone.
type SeriesSpec struct {
	From     time.Time      // the first day (a local date; its clock is ignored)
	Weeks    int            // how many weeks from From (1–52)
	Weekdays []time.Weekday // which days of the week
	Start    string         // "19:00"
	End      string         // "20:30"
	Capacity int
	Venue    string // empty: the program's venue
	// OpensDaysBefore opens booking that many days before each session; 0
	// means booking is open as soon as the session exists.
	OpensDaysBefore int
}

// Clash is an existing session a planned one overlaps: of the same program,
// or in the same venue.
type Clash struct {
	SessionID    int64
	ProgramID    int64
	ProgramTitle string
	StartsAt     time.Time
	EndsAt       time.Time
	Venue        string
}

// PlannedSession is one row of a series preview.
type PlannedSession struct {
	Input   catalog.SessionInput
	Venue   string // where it will be (the program's venue when the spec has none)
	Past    bool   // starts before now: it cannot be created
	Clashes []Clash
}

// Key names the row in a save form: its start time as Unix seconds.
func (p PlannedSession) Key() string { return strconv.FormatInt(p.Input.StartsAt.Unix(), 10) }

// SeriesPlan is the preview of a series: every date it yields, in order, and
// a fingerprint of what the preview showed, so saving can check nothing
// changed in between (a session added, a date gone past, the same series
// saved twice).
type SeriesPlan struct {
	Program     catalog.Program
	Rows        []PlannedSession
	Fingerprint string
}

func parseClock(field, s string) (int, int, error) {
	t, err := time.Parse("15:04", strings.TrimSpace(s))
	if err != nil {
		return 0, 0, models.Invalid(field, "时间格式应为 19:00")
	}
	return t.Hour(), t.Minute(), nil
}

// PlanSeries expands spec into dated sessions for program p, flagging those in
// the past and those clashing with sessions already there. It writes nothing.
func (r *Reader) PlanSeries(ctx context.Context, p catalog.Program, spec SeriesSpec) (SeriesPlan, error) {
	switch {
	case spec.Weeks < 1 || spec.Weeks > 52:
		return SeriesPlan{}, models.Invalid("weeks", "周数应为 1–52")
	case len(spec.Weekdays) == 0:
		return SeriesPlan{}, models.Invalid("weekdays", "请至少选择一天")
	case spec.Capacity < 1 || spec.Capacity > 10000:
		return SeriesPlan{}, models.Invalid("capacity", "名额应为 1–10000")
	case spec.OpensDaysBefore < 0 || spec.OpensDaysBefore > 365:
		return SeriesPlan{}, models.Invalid("opens_days_before", "提前开放天数应为 0–365")
	case len([]rune(spec.Venue)) > 100:
		return SeriesPlan{}, models.Invalid("venue", "地点过长")
	case !models.StorableTime(spec.From) || spec.From.Year() > 9000:
		return SeriesPlan{}, models.Invalid("from", "日期超出范围")
	}
	sh, sm, err := parseClock("start", spec.Start)
	if err != nil {
		return SeriesPlan{}, err
	}
	eh, em, err := parseClock("end", spec.End)
	if err != nil {
		return SeriesPlan{}, err
	}
	if eh*60+em <= sh*60+sm {
		return SeriesPlan{}, models.Invalid("end", "结束时间必须晚于开始时间")
	}
	days := map[time.Weekday]bool{}
	for _, d := range spec.Weekdays {
		if d < time.Sunday || d > time.Saturday {
			return SeriesPlan{}, models.Invalid("weekdays", "星期无效")
		}
		days[d] = true
	}
	venue := strings.TrimSpace(spec.Venue)
	where := venue
	if where == "" {
		where = p.Venue
	}
	from := spec.From.In(r.Loc)
	now := r.Now()
	plan := SeriesPlan{Program: p}
	for i := 0; i < spec.Weeks*7; i++ {
		d := time.Date(from.Year(), from.Month(), from.Day()+i, 0, 0, 0, 0, r.Loc)
		if !days[d.Weekday()] {
			continue
		}
		if len(plan.Rows) == MaxSeriesSessions {
			return SeriesPlan{}, models.Invalid("weeks", "一次最多添加 %d 场", MaxSeriesSessions)
		}
		in := catalog.SessionInput{
			StartsAt: time.Date(d.Year(), d.Month(), d.Day(), sh, sm, 0, 0, r.Loc),
			EndsAt:   time.Date(d.Year(), d.Month(), d.Day(), eh, em, 0, 0, r.Loc),
			Venue:    venue, Capacity: spec.Capacity,
		}
		if spec.OpensDaysBefore > 0 {
			o := in.StartsAt.AddDate(0, 0, -spec.OpensDaysBefore)
			in.BookingOpensAt = &o
		}
		plan.Rows = append(plan.Rows, PlannedSession{Input: in, Venue: where, Past: !in.StartsAt.After(now)})
	}
	if len(plan.Rows) == 0 {
		return SeriesPlan{}, models.Invalid("weekdays", "所选周数内没有所选的星期")
	}
	if err := r.markClashes(ctx, p.ID, where, plan.Rows); err != nil {
		return SeriesPlan{}, err
	}
	plan.Fingerprint = fingerprint(plan.Rows)
	return plan, nil
}

// markClashes reads, in one query, the live sessions overlapping the series'
// span that belong to the program or use the same venue, and attaches each to
// the planned rows it overlaps.
func (r *Reader) markClashes(ctx context.Context, programID int64, venue string, rows []PlannedSession) error {
	first, last := rows[0].Input.StartsAt, rows[len(rows)-1].Input.EndsAt
	rs, err := r.DB.QueryContext(ctx, `SELECT s.id, s.program_id, p.title, s.starts_at, s.ends_at, COALESCE(NULLIF(s.venue, ''), p.venue)
		FROM sessions s JOIN programs p ON p.id = s.program_id
		WHERE s.status <> 'cancelled' AND s.starts_at < ? AND s.ends_at > ?
		  AND (s.program_id = ? OR (? <> '' AND COALESCE(NULLIF(s.venue, ''), p.venue) = ?))
		ORDER BY s.starts_at, s.id`, last.UTC(), first.UTC(), programID, venue, venue)
	if err != nil {
		return fmt.Errorf("%w: series clashes: %w", models.ErrUnavailable, err)
	}
	defer rs.Close()
	for rs.Next() {
		var c Clash
		if err := rs.Scan(&c.SessionID, &c.ProgramID, &c.ProgramTitle, &c.StartsAt, &c.EndsAt, &c.Venue); err != nil {
			return fmt.Errorf("scan clash: %w", err)
		}
		c.StartsAt, c.EndsAt = c.StartsAt.In(r.Loc), c.EndsAt.In(r.Loc)
		// rows are in time order: find the first row ending after c starts.
		i := sort.Search(len(rows), func(i int) bool { return rows[i].Input.EndsAt.After(c.StartsAt) })
		for ; i < len(rows) && rows[i].Input.StartsAt.Before(c.EndsAt); i++ {
			rows[i].Clashes = append(rows[i].Clashes, c)
		}
	}
	return rs.Err()
}

func fingerprint(rows []PlannedSession) string {
	h := sha256.New()
	for _, p := range rows {
		opens := int64(0)
		if p.Input.BookingOpensAt != nil {
			opens = p.Input.BookingOpensAt.Unix()
		}
		fmt.Fprintf(h, "%d|%d|%q|%d|%d|%t|", p.Input.StartsAt.Unix(), p.Input.EndsAt.Unix(), p.Venue, p.Input.Capacity, opens, p.Past)
		for _, c := range p.Clashes {
			fmt.Fprintf(h, "%d,", c.SessionID)
		}
		h.Write([]byte{'\n'})
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}
