// Package scaleseed builds a district-size data set (issue 15) into a database of
// its own: residents with sealed phones, children, a catalogue with three years of
// sessions, their bookings, complaints with their event trails, smart bins with
// their deposits and the points ledger and balances those deposits earned.
//
// Rows are valid for the service: every constraint holds, sealed columns open with
// the project's own DataCipher (so the service runs on the database), booked and
// waitlisted counters match the bookings, ledger balances are running sums and
// points_accounts holds the last of them. Generation is deterministic for a seed.
//
// Speed: the big tables are streamed into LOAD DATA LOCAL INFILE from a pipe (no
// temporary files), in primary-key order, with unique and foreign-key checks off
// for the load, into empty tables (MariaDB then skips row-level undo and sorts the
// secondary indexes once). The schema is migrated only up to LoadAtVersion before
// the load; the later migrations (the report rollups' backfill among them) run over
// the loaded rows, as on a deployment that upgrades.
package scaleseed

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"

	"nantian/models"
	"nantian/models/account"
	"nantian/models/points"
)

// LoadAtVersion is the schema version the rows are loaded at: the last migration
// before the report rollups (0028), whose backfill must see the loaded history.
const LoadAtVersion = 27

// Size is how much to generate.
type Size struct {
	Residents  int // WeChat residents plus walk-ins (WalkInShare of them)
	Bookings   int // approximate: sessions are filled to reach it
	Complaints int
	Deposits   int // each non-contaminated one also writes an earn ledger entry
	Programs   int
	Estates    int // the five of the foundation migration plus more up to this many
}

// District is issue 15's size.
var District = Size{Residents: 200_000, Bookings: 2_000_000, Complaints: 300_000, Deposits: 5_000_000, Programs: 60, Estates: 20}

// Demo is the baseline the district is compared with: one hundredth, same shape.
var Demo = Size{Residents: 2_000, Bookings: 20_000, Complaints: 3_000, Deposits: 50_000, Programs: 20, Estates: 5}

// Options say where and how to build.
type Options struct {
	Size     Size
	Loc      *time.Location
	Now      time.Time // the seed's "now": history runs from 1 Jan three years before its year's end
	Seed     uint64
	DataKey  string // DATA_KEY the service will run with (phones, children)
	PointKey string // POINTS_DEVICE_KEY (bin secrets)
	Log      *slog.Logger
}

// StaffCount staff users come first (ids 1..StaffCount), with openids
// scale-staff-<n>; residents follow with openids scale-resident-<n>.
const StaffCount = 10

const walkInShare = 20 // one resident in walkInShare is a walk-in registered at the desk

var extraEstates = []string{"园岭新村", "百花公寓", "鹏盛村", "兰园", "桂园", "红荔村", "华新村", "长城大厦",
	"上步小区", "八卦岭宿舍", "通新岭", "园东花园", "园西小区", "中航苑", "荔园", "燕南小区"}

type seeder struct {
	db      *sql.DB
	o       Options
	r       *rand.Rand
	cipher  *models.DataCipher
	estates []string
	start   time.Time // first session day (UTC instant of local midnight)
	users   int64     // highest user id
	nres    int
	// children: per resident index a child id (0 none), for childcare bookings
	child []int64
	pipes atomic.Int64
}

// Build fills db (already created, empty) at dsn. db must allow LOAD DATA LOCAL.
func Build(ctx context.Context, dsn string, o Options) error {
	if err := models.MigrateUpTo(ctx, dsn, LoadAtVersion); err != nil {
		return fmt.Errorf("migrate to %d: %w", LoadAtVersion, err)
	}
	db, err := models.OpenDB(ctx, dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(2)
	c, err := models.NewDataCipher(o.DataKey)
	if err != nil {
		return err
	}
	s := &seeder{db: db, o: o, r: rand.New(rand.NewPCG(o.Seed, 15)), cipher: c}
	y := o.Now.In(o.Loc).Year()
	s.start = time.Date(y-2, 1, 1, 0, 0, 0, 0, o.Loc).UTC()
	steps := []struct {
		name string
		fn   func(context.Context) error
	}{
		{"estates", s.loadEstates},
		{"users", s.loadUsers},
		{"children", s.loadChildren},
		{"catalogue, sessions and bookings", s.loadBookings},
		{"complaints and events", s.loadComplaints},
		{"devices, deposits, ledger and accounts", s.loadDeposits},
	}
	for _, st := range steps {
		t0 := time.Now()
		if err := st.fn(ctx); err != nil {
			return fmt.Errorf("%s: %w", st.name, err)
		}
		o.Log.Info("loaded", "step", st.name, "seconds", time.Since(t0).Seconds())
	}
	t0 := time.Now()
	if err := models.Migrate(ctx, dsn); err != nil {
		return fmt.Errorf("migrations after the load: %w", err)
	}
	o.Log.Info("migrated over the loaded rows", "seconds", time.Since(t0).Seconds())
	t0 = time.Now()
	for _, t := range []string{"users", "children", "programs", "sessions", "bookings", "complaints", "complaint_events", "bin_deposits", "points_ledger", "points_accounts"} {
		if _, err := db.ExecContext(ctx, "ANALYZE TABLE "+t); err != nil {
			return fmt.Errorf("analyze %s: %w", t, err)
		}
	}
	o.Log.Info("analyzed", "seconds", time.Since(t0).Seconds())
	return nil
}

// load streams rows written by gen into LOAD DATA LOCAL INFILE for table(cols).
// cols may name user variables (@x) and set may convert them (hex → binary).
// The connection has unique and foreign-key checks off: the generator guarantees
// both, and with them off MariaDB loads an empty table without row undo.
func (s *seeder) load(ctx context.Context, table, cols, set string, gen func(w *bufio.Writer) error) error {
	name := fmt.Sprintf("scaleseed-%s-%d", table, s.pipes.Add(1))
	pr, pw := io.Pipe()
	mysql.RegisterReaderHandler(name, func() io.Reader { return pr })
	defer mysql.DeregisterReaderHandler(name)
	go func() {
		bw := bufio.NewWriterSize(pw, 1<<20)
		err := gen(bw)
		if err == nil {
			err = bw.Flush()
		}
		pw.CloseWithError(err)
	}()
	conn, err := s.db.Conn(ctx)
	if err != nil {
		pr.CloseWithError(err)
		return err
	}
	defer conn.Close()
	for _, q := range []string{"SET unique_checks = 0", "SET foreign_key_checks = 0"} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			pr.CloseWithError(err)
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	// Secondary indexes and foreign keys go before the load and come back after
	// it in one ALTER, which sorts each index once instead of inserting into every
	// B-tree row by row.
	keys, err := secondaryKeys(ctx, conn, table)
	if err != nil {
		pr.CloseWithError(err)
		return err
	}
	if len(keys) > 0 {
		var drops []string
		for _, k := range keys {
			if k.fk {
				drops = append(drops, "DROP FOREIGN KEY "+k.name)
			}
		}
		for _, k := range keys {
			if !k.fk {
				drops = append(drops, "DROP INDEX "+k.name)
			}
		}
		if _, err := conn.ExecContext(ctx, "ALTER TABLE "+table+" "+strings.Join(drops, ", ")); err != nil {
			pr.CloseWithError(err)
			return fmt.Errorf("drop %s keys: %w", table, err)
		}
	}
	q := fmt.Sprintf("LOAD DATA LOCAL INFILE 'Reader::%s' INTO TABLE %s CHARACTER SET utf8mb4 (%s)", name, table, cols)
	if set != "" {
		q += " SET " + set
	}
	_, err = conn.ExecContext(ctx, q)
	pr.CloseWithError(io.ErrClosedPipe) // stop the generator if the load failed early
	if err != nil {
		return fmt.Errorf("load %s: %w", table, err)
	}
	if len(keys) > 0 {
		var adds []string
		for _, k := range keys {
			if !k.fk {
				adds = append(adds, "ADD "+k.def)
			}
		}
		for _, k := range keys {
			if k.fk {
				adds = append(adds, "ADD "+k.def)
			}
		}
		t0 := time.Now()
		if _, err := conn.ExecContext(ctx, "ALTER TABLE "+table+" "+strings.Join(adds, ", ")); err != nil {
			return fmt.Errorf("rebuild %s keys: %w", table, err)
		}
		s.o.Log.Info("indexes built", "table", table, "seconds", time.Since(t0).Seconds())
	}
	for _, q := range []string{"SET unique_checks = 1", "SET foreign_key_checks = 1"} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	return nil
}

type key struct {
	name, def string
	fk        bool
}

// secondaryKeys lists table's secondary indexes and foreign keys as SHOW CREATE
// TABLE writes them, so they can be dropped and re-added exactly.
func secondaryKeys(ctx context.Context, conn *sql.Conn, table string) ([]key, error) {
	var name, ddl string
	if err := conn.QueryRowContext(ctx, "SHOW CREATE TABLE "+table).Scan(&name, &ddl); err != nil {
		return nil, fmt.Errorf("show create table %s: %w", table, err)
	}
	var out []key
	for _, line := range strings.Split(ddl, "\n") {
		line = strings.TrimSuffix(strings.TrimSpace(line), ",")
		switch {
		case strings.HasPrefix(line, "KEY ") || strings.HasPrefix(line, "UNIQUE KEY "):
			n := line[strings.Index(line, "`") : strings.Index(line, "` (")+1]
			out = append(out, key{name: n, def: line})
		case strings.HasPrefix(line, "CONSTRAINT ") && strings.Contains(line, "FOREIGN KEY"):
			n := line[len("CONSTRAINT "):strings.Index(line, " FOREIGN KEY")]
			out = append(out, key{name: n, def: line, fk: true})
		}
	}
	return out, nil
}

// row writes tab-separated fields; nil is \N. Values never hold tabs, newlines or
// backslashes (binary ones go as hex).
type row struct {
	w   *bufio.Writer
	buf []byte
	n   int
}

func (r *row) int(v int64) *row {
	r.sep()
	r.buf = strconv.AppendInt(r.buf, v, 10)
	return r
}
func (r *row) str(v string) *row { r.sep(); r.buf = append(r.buf, v...); return r }
func (r *row) null() *row        { r.sep(); r.buf = append(r.buf, '\\', 'N'); return r }
func (r *row) hex(b []byte) *row {
	if b == nil {
		return r.null()
	}
	r.sep()
	r.buf = hex.AppendEncode(r.buf, b)
	return r
}
func (r *row) ts(t time.Time) *row {
	r.sep()
	r.buf = t.UTC().AppendFormat(r.buf, "2006-01-02 15:04:05.000")
	return r
}
func (r *row) tsp(t *time.Time) *row {
	if t == nil {
		return r.null()
	}
	return r.ts(*t)
}
func (r *row) day(t time.Time) *row { r.sep(); r.buf = t.AppendFormat(r.buf, "2006-01-02"); return r }
func (r *row) sep() {
	if r.n > 0 {
		r.buf = append(r.buf, '\t')
	}
	r.n++
}
func (r *row) end() error {
	r.buf = append(r.buf, '\n')
	_, err := r.w.Write(r.buf)
	r.buf, r.n = r.buf[:0], 0
	return err
}

func (s *seeder) loadEstates(ctx context.Context) error {
	for i := 0; i < s.o.Size.Estates-5 && i < len(extraEstates); i++ {
		if _, err := s.db.ExecContext(ctx, `INSERT IGNORE INTO estates (name) VALUES (?)`, extraEstates[i]); err != nil {
			return fmt.Errorf("insert estate: %w", err)
		}
	}
	names, err := models.QueryColumn[string](ctx, s.db, `SELECT name FROM estates ORDER BY id`)
	s.estates = names
	return err
}

var surnames = []rune("王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高")
var givens = []rune("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华")

func (s *seeder) name() string {
	return string([]rune{surnames[s.r.IntN(len(surnames))], givens[s.r.IntN(len(givens))], givens[s.r.IntN(len(givens))]})
}

func (s *seeder) phone(i int) string { return fmt.Sprintf("139%08d", i) }

// residentID is the user id of resident index i (0-based).
func residentID(i int) int64 { return int64(StaffCount + 1 + i) }

func (s *seeder) loadUsers(ctx context.Context) error {
	n := s.o.Size.Residents
	s.nres = n
	s.users = residentID(n - 1)
	created := s.start.Add(-30 * 24 * time.Hour)
	users := &account.Users{Cipher: s.cipher} // seals phones exactly as the service does
	return s.load(ctx, "users",
		"id, openid, role, nickname, real_name, estate, building, room, phone_verified_at, @walkin_phone, created_by, created_at, updated_at, @phone_enc, @phone_bidx, status",
		"walkin_phone = UNHEX(@walkin_phone), phone_enc = UNHEX(@phone_enc), phone_bidx = UNHEX(@phone_bidx)",
		func(w *bufio.Writer) error {
			r := &row{w: w}
			for i := 1; i <= StaffCount; i++ {
				r.int(int64(i)).str("scale-staff-" + strconv.Itoa(i)).str(models.RoleStaff).str("工作人员" + strconv.Itoa(i)).str("").str(s.estates[0]).str("").str("").null().null().null().ts(created).ts(created).null().null().str("active")
				if err := r.end(); err != nil {
					return err
				}
			}
			for i := range n {
				id := residentID(i)
				estate := s.estates[s.r.IntN(len(s.estates))]
				building, room := strconv.Itoa(1+s.r.IntN(30))+"栋", strconv.Itoa(101+s.r.IntN(30)*100+s.r.IntN(8))
				at := created.Add(time.Duration(s.r.Int64N(int64(20 * 24 * time.Hour))))
				walkIn := i%walkInShare == walkInShare-1
				var enc, bidx []byte
				if walkIn || i%3 == 0 {
					var err error
					if enc, bidx, err = users.SealPhone(id, s.phone(i)); err != nil {
						return err
					}
				}
				if walkIn {
					r.int(id).null().str(models.RoleResident).str("").str(s.name()).str(estate).str(building).str(room).null().hex(bidx).int(1 + int64(i%StaffCount))
				} else {
					r.int(id).str("scale-resident-" + strconv.Itoa(i)).str(models.RoleResident).str("居民" + strconv.Itoa(i)).str("").str(estate).str(building).str(room)
					if enc != nil {
						r.ts(at)
					} else {
						r.null()
					}
					r.null().null()
				}
				r.ts(at).ts(at).hex(enc).hex(bidx).str("active")
				if err := r.end(); err != nil {
					return err
				}
			}
			return nil
		})
}

// One resident in ten has a child (ids 1..), who is the participant of
// childcare and children's bookings made by that guardian.
func (s *seeder) loadChildren(ctx context.Context) error {
	s.child = make([]int64, s.nres)
	consent := s.start.Add(-10 * 24 * time.Hour)
	return s.load(ctx, "children",
		"id, user_id, birth_date, gender, consent_at, consent_by, created_at, updated_at, @name_enc, @allergies_enc, @contact_enc",
		"name_enc = UNHEX(@name_enc), allergies_enc = UNHEX(@allergies_enc), emergency_contact_enc = UNHEX(@contact_enc)",
		func(w *bufio.Writer) error {
			r := &row{w: w}
			var id int64
			for i := 0; i < s.nres; i += 10 {
				id++
				s.child[i] = id
				uid := residentID(i)
				born := s.o.Now.In(s.o.Loc).AddDate(-2, -s.r.IntN(12), -s.r.IntN(28))
				name, err := s.cipher.Seal("children", "name", id, s.name())
				if err != nil {
					return err
				}
				allergies, err := s.cipher.Seal("children", "allergies", id, []string{"", "花生", "牛奶"}[s.r.IntN(3)])
				if err != nil {
					return err
				}
				contact, err := s.cipher.Seal("children", "emergency_contact", id, s.phone(i))
				if err != nil {
					return err
				}
				r.int(id).int(uid).day(born).str([]string{"男", "女"}[s.r.IntN(2)]).ts(consent).int(uid).ts(consent).ts(consent).hex(name).hex(allergies).hex(contact)
				if err := r.end(); err != nil {
					return err
				}
			}
			return nil
		})
}

type program struct {
	id             int64
	kind, audience string
	fee            int64
	capacity       int
	approval       bool
}

// programs: a fifth night school (paid), half activities (elderly, children,
// all), a tenth childcare, the rest youth activities.
func (s *seeder) programs(ctx context.Context) ([]program, error) {
	created := s.start.Add(-20 * 24 * time.Hour)
	var out []program
	for i := range s.o.Size.Programs {
		p := program{capacity: 20 + 5*(i%5)}
		var title, category, venue string
		switch {
		case i%5 == 0:
			p.kind, p.audience, p.fee = "night_school", "all", int64(20000+10000*(i%3))
			title, category, venue = "夜校·"+[]string{"书法", "摄影", "粤剧", "烘焙", "英语"}[(i/5)%5], "技能", "党群服务中心"
		case i%10 == 1:
			p.kind, p.audience, p.approval = "childcare", "children", true
			title, category, venue = "临时托", "托育", "儿童之家"
		case i%5 == 2 || i%5 == 4:
			p.kind, p.audience = "activity", []string{"elderly", "children", "all"}[i%3]
			title, category, venue = "社区活动", "文体", "长者饭堂"
		default:
			p.kind, p.audience = "activity", "youth"
			title, category, venue = "青年活动", "文体", "党群服务中心"
		}
		title = fmt.Sprintf("%s %d", title, i+1)
		var minAge, maxAge any
		if p.kind == "childcare" {
			minAge, maxAge = 12, 72
		}
		res, err := s.db.ExecContext(ctx, `INSERT INTO programs (kind, title, description, category, audience, venue, fee_fen,
			requires_approval, min_age_months, max_age_months, status, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'active', ?, ?)`,
			p.kind, title, "规模测试数据", category, p.audience, venue, p.fee, p.approval, minAge, maxAge, created, created)
		if err != nil {
			return nil, fmt.Errorf("insert program: %w", err)
		}
		if p.id, err = res.LastInsertId(); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

type session struct {
	id, program                  int64
	starts, ends                 time.Time
	capacity, booked, waitlisted int
	cancelled                    bool
}

const codeAlphabet = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"

// code is a check-in code unique per booking id: a bijection of the id's low 48
// bits written in base 31 (31^10 > 2^48), so no two bookings share one.
func code(id int64) string {
	x := uint64(id) & (1<<48 - 1)
	x = (x * 0x9E3779B97F4B) & (1<<48 - 1) // odd multiplier: a bijection mod 2^48
	x ^= x >> 24
	var b [10]byte
	for i := range b {
		b[i] = codeAlphabet[x%31]
		x /= 31
	}
	return string(b[:])
}

// loadBookings lays out sessions over the three years (about 70 a day among
// the programs, until four weeks ahead of now) and fills them to reach
// Size.Bookings: past sessions' bookings attended, no-show, cancelled or
// expired; upcoming ones confirmed, pending or waitlisted; a cancelled
// session's bookings cancelled.
func (s *seeder) loadBookings(ctx context.Context) error {
	progs, err := s.programs(ctx)
	if err != nil {
		return err
	}
	end := s.o.Now.Add(28 * 24 * time.Hour)
	days := int(end.Sub(s.start).Hours()/24) + 1
	avgCap := 0
	for _, p := range progs {
		avgCap += p.capacity
	}
	avgCap /= len(progs)
	perSession := max(1, avgCap*8/10)
	total := max(1, s.o.Size.Bookings/perSession)
	perDay := max(1, total/days)
	var sessions []session
	var sid int64
	for d := range days {
		day := s.start.AddDate(0, 0, d)
		for k := range perDay {
			p := progs[(d*perDay+k)%len(progs)]
			sid++
			st := day.Add(time.Duration(8+(k%13)) * time.Hour).Add(time.Duration(s.r.IntN(4)) * 15 * time.Minute)
			sessions = append(sessions, session{id: sid, program: p.id, starts: st, ends: st.Add(90 * time.Minute),
				capacity: p.capacity, cancelled: s.r.IntN(50) == 0})
		}
	}
	byID := map[int64]program{}
	for _, p := range progs {
		byID[p.id] = p
	}
	// Bookings first: they settle each session's booked/waitlisted counters.
	remaining := s.o.Size.Bookings
	err = s.load(ctx, "bookings",
		"id, session_id, program_id, user_id, child_id, participant, live_participant, status, fee_fen, payment_status, code, late_cancel, no_show_at, checked_in_at, created_at, updated_at",
		"",
		func(w *bufio.Writer) error {
			r := &row{w: w}
			var id int64
			seen := map[int]bool{}
			for si := range sessions {
				se := &sessions[si]
				p := byID[se.program]
				left := len(sessions) - si
				n := min(se.capacity+3, max(0, remaining/left+s.r.IntN(5)-2))
				remaining -= n
				clear(seen)
				past := se.ends.Before(s.o.Now)
				for range n {
					var ri int
					for {
						ri = s.r.IntN(s.nres)
						if p.audience == "children" || p.kind == "childcare" {
							ri -= ri % 10 // guardians with a child
						}
						if !seen[ri] {
							break
						}
					}
					seen[ri] = true
					id++
					uid := residentID(ri)
					participant := "u" + strconv.FormatInt(uid, 10)
					var childID int64
					if (p.audience == "children" || p.kind == "childcare") && s.child[ri] != 0 {
						childID = s.child[ri]
						participant += "c" + strconv.FormatInt(childID, 10)
					}
					created := se.starts.Add(-time.Duration(1+s.r.IntN(14*24)) * time.Hour)
					updated := created
					status := "confirmed"
					x := s.r.IntN(100)
					full := se.booked >= se.capacity
					switch {
					case se.cancelled:
						status = "cancelled"
					case past && !full && x < 78:
						status = "attended"
					case past && !full && x < 86:
						status = "no_show"
					case past && x < 96:
						status = "cancelled"
					case past:
						status = "expired"
					case full:
						status = "waitlisted"
					case x < 8:
						status = "cancelled"
					case p.approval && x < 30:
						status = "pending"
					}
					var live any = nil
					switch status {
					case "attended", "confirmed", "pending":
						se.booked++
						live = participant
					case "waitlisted":
						se.waitlisted++
						live = participant
					}
					var checkedIn, noShow *time.Time
					switch status {
					case "attended":
						t := se.starts.Add(time.Duration(s.r.IntN(20)) * time.Minute)
						checkedIn, updated = &t, t
					case "no_show":
						t := se.ends.Add(time.Hour)
						noShow, updated = &t, t
					case "cancelled", "expired":
						updated = created.Add(time.Hour)
					}
					fee := int64(0)
					if status != "waitlisted" {
						fee = p.fee
					}
					r.int(id).int(se.id).int(p.id).int(uid)
					if childID != 0 {
						r.int(childID)
					} else {
						r.null()
					}
					r.str(participant)
					if live != nil {
						r.str(participant)
					} else {
						r.null()
					}
					late := int64(0)
					if status == "cancelled" && s.r.IntN(5) == 0 {
						late = 1
					}
					r.str(status).int(fee).str("none").str(code(id)).int(late).tsp(noShow).tsp(checkedIn).ts(created).ts(updated)
					if err := r.end(); err != nil {
						return err
					}
				}
			}
			return nil
		})
	if err != nil {
		return err
	}
	return s.load(ctx, "sessions",
		"id, program_id, starts_at, ends_at, venue, capacity, booked, waitlisted, status, booking_opens_at, created_at, updated_at", "",
		func(w *bufio.Writer) error {
			r := &row{w: w}
			for _, se := range sessions {
				status := "open"
				if se.cancelled {
					status = "cancelled"
				}
				created := se.starts.Add(-30 * 24 * time.Hour)
				r.int(se.id).int(se.program).ts(se.starts).ts(se.ends).str("党群服务中心").int(int64(se.capacity)).int(int64(se.booked)).int(int64(se.waitlisted)).str(status).null().ts(created).ts(created)
				if err := r.end(); err != nil {
					return err
				}
			}
			return nil
		})
}

var complaintCategories = []string{"物业管理", "充电难", "房屋漏水", "噪音扰民", "环境卫生", "公共设施", "邻里纠纷", "安全隐患", "其他"}

// loadComplaints spreads complaints over the history, oldest first. The limits
// are the service defaults' shape (accept 2 h, contact 24 h, resolve 7 days);
// most old ones are resolved or closed, recent ones are still in hand, a few were
// reopened once. Each step writes its event.
func (s *seeder) loadComplaints(ctx context.Context) error {
	n := s.o.Size.Complaints
	span := s.o.Now.Sub(s.start)
	times := make([]time.Time, n)
	for i := range times {
		times[i] = s.start.Add(time.Duration(float64(span) * float64(i) / float64(n))).Add(time.Duration(s.r.IntN(600)) * time.Second)
		if times[i].After(s.o.Now) {
			times[i] = s.o.Now.Add(-time.Minute)
		}
	}
	type ev struct {
		cid    int64
		status string
		at     time.Time
		role   string
		actor  int64
	}
	events := make(chan ev, 4096)
	errc := make(chan error, 1)
	go func() {
		errc <- s.load(ctx, "complaint_events", "complaint_id, status, at, actor_role, actor_id, note", "",
			func(w *bufio.Writer) error {
				r := &row{w: w}
				for e := range events {
					r.int(e.cid).str(e.status).ts(e.at).str(e.role)
					if e.actor != 0 {
						r.int(e.actor)
					} else {
						r.null()
					}
					r.str("")
					if err := r.end(); err != nil {
						return err
					}
				}
				return nil
			})
	}()
	// The events table loads on the second connection while complaints load on
	// the first; both are in PK order.
	rr := rand.New(rand.NewPCG(s.o.Seed, 3))
	err := s.load(ctx, "complaints",
		"id, user_id, category, content, estate, location, status, needs_review, review_reason, created_at, cycle_started_at, accept_due_at, contact_due_at, resolve_due_at, accepted_at, contacted_at, resolved_at, closed_at, handler_id, resolution, mediation_agreement, rating, rated_at, reopen_count, updated_at, @contact_enc",
		"contact_phone_enc = UNHEX(@contact_enc)",
		func(w *bufio.Writer) error {
			defer close(events)
			r := &row{w: w}
			for i := range n {
				id := int64(i + 1)
				ri := rr.IntN(s.nres)
				uid := residentID(ri)
				created := times[i]
				age := s.o.Now.Sub(created)
				cycle := created
				handler := int64(1 + rr.IntN(StaffCount))
				at := func(d time.Duration) time.Time { return cycle.Add(d) }
				accDue, conDue, resDue := at(2*time.Hour), at(24*time.Hour), at(7*24*time.Hour)
				events <- ev{id, "submitted", created, "resident", uid}
				var accepted, contacted, resolved, closed, rated *time.Time
				status := "submitted"
				reopen := 0
				x := rr.IntN(100)
				step := func(d time.Duration) *time.Time {
					t := cycle.Add(d)
					if t.After(s.o.Now) {
						return nil
					}
					return &t
				}
				if accepted = step(time.Duration(10+rr.IntN(200)) * time.Minute); accepted != nil && x < 98 {
					status = "accepted"
					events <- ev{id, "accepted", *accepted, "staff", handler}
					if contacted = step(time.Duration(1+rr.IntN(30)) * time.Hour); contacted != nil && x < 95 {
						status = "contacted"
						events <- ev{id, "contacted", *contacted, "staff", handler}
						if resolved = step(time.Duration(1+rr.IntN(9*24)) * time.Hour); resolved != nil && x < 92 {
							status = "resolved"
							events <- ev{id, "resolved", *resolved, "staff", handler}
							if x < 3 && age > 20*24*time.Hour { // reopened once, resolved again
								t := resolved.Add(24 * time.Hour)
								events <- ev{id, "reopened", t, "resident", uid}
								reopen, cycle = 1, t
								accDue, conDue, resDue = at(2*time.Hour), at(24*time.Hour), at(7*24*time.Hour)
								a, c, rs := cycle.Add(time.Hour), cycle.Add(5*time.Hour), cycle.Add(3*24*time.Hour)
								accepted, contacted, resolved = &a, &c, &rs
								events <- ev{id, "accepted", a, "staff", handler}
								events <- ev{id, "contacted", c, "staff", handler}
								events <- ev{id, "resolved", rs, "staff", handler}
							}
							if t := resolved.Add(3 * 24 * time.Hour); t.Before(s.o.Now) && x < 80 {
								status, closed = "closed", &t
								events <- ev{id, "closed", t, "resident", uid}
								if x < 60 {
									rated = &t
								}
							}
						}
					}
				} else {
					accepted = nil
				}
				if status == "submitted" || status == "accepted" {
					contacted = nil
				}
				if status != "resolved" && status != "closed" {
					resolved = nil
				}
				needsReview, reason := int64(0), ""
				if rr.IntN(50) == 0 {
					needsReview, reason = 1, "content_check"
				}
				var enc []byte
				if i%2 == 0 {
					var err error
					if enc, err = s.cipher.Seal("complaints", "contact_phone", id, s.phone(ri)); err != nil {
						return err
					}
				}
				updated := created
				for _, t := range []*time.Time{accepted, contacted, resolved, closed} {
					if t != nil && t.After(updated) {
						updated = *t
					}
				}
				r.int(id).int(uid).str(complaintCategories[rr.IntN(len(complaintCategories))]).str("楼道灯坏了很久，请尽快处理。").
					str(s.estates[rr.IntN(len(s.estates))]).str(strconv.Itoa(1+rr.IntN(30)) + "栋").str(status).int(needsReview).str(reason).
					ts(created).ts(cycle).ts(accDue).ts(conDue).ts(resDue).tsp(accepted).tsp(contacted).tsp(resolved).tsp(closed)
				if accepted != nil {
					r.int(handler)
				} else {
					r.null()
				}
				if resolved != nil {
					r.str("已处理完毕。")
				} else {
					r.null()
				}
				med := int64(0)
				if resolved != nil && rr.IntN(20) == 0 {
					med = 1
				}
				r.int(med)
				if rated != nil {
					r.int(int64(3 + rr.IntN(3))).ts(*rated)
				} else {
					r.null().null()
				}
				r.int(int64(reopen)).ts(updated).hex(enc)
				if err := r.end(); err != nil {
					return err
				}
			}
			return nil
		})
	if err != nil {
		// drain so the events loader ends
		for range events {
		}
		<-errc
		return err
	}
	return <-errc
}

// loadDeposits registers five bins per estate through the project's own device
// store (sealed secrets), then spreads the deposits over the history in time
// order; each earns 1 point per 200 g up to 10 (contaminated: nothing, no ledger
// entry). The earn entries carry the resident's running balance and expire at the
// end of the next calendar year; points_accounts holds the final balances, marked
// expired through the last year end (the expiry job's books start there).
func (s *seeder) loadDeposits(ctx context.Context) error {
	devs, err := points.NewDevices(s.db, nil, func() time.Time { return s.start.Add(-24 * time.Hour) }, s.o.Loc, s.o.PointKey)
	if err != nil {
		return err
	}
	type bin struct {
		id     int64
		estate string
	}
	var bins []bin
	for _, e := range s.estates {
		for k := range 5 {
			d, _, err := devs.Create(ctx, 1, points.DeviceInput{Estate: e, Name: fmt.Sprintf("%s %d号桶", e, k+1)})
			if err != nil {
				return err
			}
			bins = append(bins, bin{d.ID, e})
		}
	}
	n := s.o.Size.Deposits
	span := s.o.Now.Add(-time.Hour).Sub(s.start)
	balance := make([]int64, s.nres)
	type earn struct {
		user       int
		deposit    int64
		amount     int64
		at, expire time.Time
	}
	earns := make(chan earn, 4096)
	errc := make(chan error, 1)
	go func() {
		errc <- s.load(ctx, "points_ledger", "user_id, kind, amount, balance_after, source_id, expires_at, reason, created_at", "",
			func(w *bufio.Writer) error {
				r := &row{w: w}
				for e := range earns {
					balance[e.user] += e.amount
					r.int(residentID(e.user)).str("earn").int(e.amount).int(balance[e.user]).int(e.deposit).ts(e.expire).str("").ts(e.at)
					if err := r.end(); err != nil {
						return err
					}
				}
				return nil
			})
	}()
	rr := rand.New(rand.NewPCG(s.o.Seed, 5))
	err = s.load(ctx, "bin_deposits", "id, event_id, device_id, user_id, estate, weight_grams, quality, points_awarded, local_day, occurred_at, created_at", "",
		func(w *bufio.Writer) error {
			defer close(earns)
			r := &row{w: w}
			for i := range n {
				id := int64(i + 1)
				at := s.start.Add(time.Duration(float64(span) * float64(i) / float64(n)))
				b := bins[rr.IntN(len(bins))]
				ui := rr.IntN(s.nres)
				grams := int64(200 + rr.IntN(2800))
				quality, pts := "ok", min(10, grams/200)
				if rr.IntN(25) == 0 {
					quality, pts = "contaminated", 0
				}
				local := at.In(s.o.Loc)
				r.int(id).str("ev-" + strconv.FormatInt(id, 10)).int(b.id).int(residentID(ui)).str(b.estate).int(grams).str(quality).int(pts).
					day(local).ts(at).ts(at.Add(time.Second))
				if err := r.end(); err != nil {
					return err
				}
				if pts > 0 {
					earns <- earn{ui, id, pts, at, time.Date(local.Year()+2, 1, 1, 0, 0, 0, 0, s.o.Loc)}
				}
			}
			return nil
		})
	if err != nil {
		for range earns {
		}
		<-errc
		return err
	}
	if err := <-errc; err != nil {
		return err
	}
	boundary := time.Date(s.o.Now.In(s.o.Loc).Year(), 1, 1, 0, 0, 0, 0, s.o.Loc)
	return s.load(ctx, "points_accounts", "user_id, balance, expired_through, updated_at", "",
		func(w *bufio.Writer) error {
			r := &row{w: w}
			for i, b := range balance {
				if b == 0 {
					continue
				}
				r.int(residentID(i)).int(b).ts(boundary).ts(s.o.Now)
				if err := r.end(); err != nil {
					return err
				}
			}
			return nil
		})
}

// Verify answers the cheap consistency checks the seed promises (counters match
// bookings, balances match the ledger's last entries); the service's own tests
// hold the rest.
func Verify(ctx context.Context, db *sql.DB) error {
	checks := []struct{ what, q string }{
		{"sessions.booked/waitlisted match bookings", `SELECT COUNT(*) FROM sessions s LEFT JOIN (SELECT session_id,
			SUM(status IN ('pending','awaiting_payment','confirmed','attended')) b, SUM(status = 'waitlisted') w
			FROM bookings GROUP BY session_id) x ON x.session_id = s.id WHERE s.booked <> COALESCE(x.b, 0) OR s.waitlisted <> COALESCE(x.w, 0)`},
		{"points balances match the ledger", `SELECT COUNT(*) FROM points_accounts a JOIN (SELECT user_id, SUM(amount) t FROM points_ledger GROUP BY user_id) l
			ON l.user_id = a.user_id WHERE l.t <> a.balance`},
	}
	for _, c := range checks {
		var bad int
		if err := db.QueryRowContext(ctx, c.q).Scan(&bad); err != nil {
			return fmt.Errorf("verify %s: %w", c.what, err)
		}
		if bad != 0 {
			return fmt.Errorf("verify %s: %d rows disagree", c.what, bad)
		}
	}
	return nil
}

// Describe is a one-line summary for logs.
func (z Size) Describe() string {
	return strings.Join([]string{
		strconv.Itoa(z.Residents) + " residents", strconv.Itoa(z.Bookings) + " bookings",
		strconv.Itoa(z.Complaints) + " complaints", strconv.Itoa(z.Deposits) + " deposits",
	}, ", ")
}
