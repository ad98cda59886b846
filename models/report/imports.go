package report

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"nantian/models"
	"nantian/models/catalog"
)

// History import: the spreadsheets centers kept before this system, one row per
// held session, become programs (found or created) and closed sessions whose
// attendances and fee totals live in session_imports, so the annual report counts
// them like live ones.

// MaxImportRows is the most data rows one import may hold.
const MaxImportRows = 5000

// importColumns is the header, in the documented order. fees_fen may be left out.
var importColumns = []string{"kind", "title", "audience", "category", "venue", "starts_at", "ends_at", "capacity", "attendances", "fees_fen"}

// Import errors.
var (
	ErrImportTooManyRows = &models.Error{Kind: models.KindRule, Code: "import_too_many_rows", Message: fmt.Sprintf("一次最多导入 %d 行", MaxImportRows)}
	ErrImportEmpty       = &models.Error{Kind: models.KindRule, Code: "import_invalid", Message: "文件没有数据行"}
)

// ImportRow is one validated CSV row.
type ImportRow struct {
	Line        int // 1-based line in the file (the header is line 1)
	Kind        string
	Title       string
	Audience    string
	Category    string
	Venue       string
	StartsAt    time.Time // UTC
	EndsAt      time.Time // UTC
	Capacity    int
	Attendances int
	FeesFen     int64
}

// Hash is the row's content hash: the same session in the same words, however the
// file spaced or quoted it, hashes the same, so importing a file twice adds nothing.
func (r ImportRow) Hash() string {
	h := sha256.New()
	for _, f := range []string{r.Kind, r.Title, r.Audience, r.Category, r.Venue,
		r.StartsAt.UTC().Format(time.RFC3339), r.EndsAt.UTC().Format(time.RFC3339),
		strconv.Itoa(r.Capacity), strconv.Itoa(r.Attendances), strconv.FormatInt(r.FeesFen, 10)} {
		h.Write([]byte(f))
		h.Write([]byte{0x1f})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// ImportRowError names a bad line and why.
type ImportRowError struct {
	Line   int    `json:"line"`
	Reason string `json:"reason"`
}

// ImportInvalidError is the 422 for a file with bad rows: every one is listed.
type ImportInvalidError struct {
	Rows []ImportRowError
}

func (e *ImportInvalidError) Error() string {
	return fmt.Sprintf("import_invalid: %d bad rows", len(e.Rows))
}

// maxImportErrors bounds the error list of a hopeless file (say, a binary upload):
// past this the file is clearly not the right one and listing more helps nobody.
const maxImportErrors = 1000

// importTimeLayouts are the accepted spellings of starts_at / ends_at, local time.
var importTimeLayouts = []string{"2006-01-02 15:04", "2006-01-02 15:04:05"}

// ParseImportCSV reads and validates a whole file. Times are read in loc. It returns
// every row, or an *ImportInvalidError listing every bad line (up to 1,000), or
// ErrImportTooManyRows / ErrImportEmpty. A UTF-8 byte-order mark (Excel writes one)
// is ignored; so are blank lines.
func ParseImportCSV(data []byte, loc *time.Location) ([]ImportRow, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if !utf8.Valid(data) {
		return nil, &ImportInvalidError{Rows: []ImportRowError{{Line: 1, Reason: "文件不是 UTF-8 编码（请在导出时选择 CSV UTF-8）"}}}
	}
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = -1
	r.TrimLeadingSpace = true
	r.ReuseRecord = true

	header, err := r.Read()
	if errors.Is(err, io.EOF) {
		return nil, ErrImportEmpty
	}
	if err != nil {
		return nil, &ImportInvalidError{Rows: []ImportRowError{{Line: 1, Reason: "表头无法解析: " + csvReason(err)}}}
	}
	cols, reason := importHeader(header)
	if reason != "" {
		return nil, &ImportInvalidError{Rows: []ImportRowError{{Line: 1, Reason: reason}}}
	}

	var rows []ImportRow
	var bad []ImportRowError
	n := 0
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			line := 0
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				line = pe.StartLine
			}
			bad = append(bad, ImportRowError{Line: line, Reason: "CSV 格式错误: " + csvReason(err)})
		} else {
			line, _ := r.FieldPos(0)
			if row, reason := parseImportRecord(rec, cols, loc); reason != "" {
				bad = append(bad, ImportRowError{Line: line, Reason: reason})
			} else {
				row.Line = line
				rows = append(rows, row)
			}
		}
		n++
		if n > MaxImportRows {
			return nil, ErrImportTooManyRows
		}
		if len(bad) >= maxImportErrors {
			break
		}
	}
	if len(bad) > 0 {
		return nil, &ImportInvalidError{Rows: bad}
	}
	if len(rows) == 0 {
		return nil, ErrImportEmpty
	}
	return rows, nil
}

func csvReason(err error) string {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// importHeader maps column names to positions. Names are matched case-insensitively
// in any order; every column but fees_fen is required and unknown ones are refused,
// so a misspelt column is caught instead of silently read as empty.
func importHeader(header []string) (map[string]int, string) {
	cols := make(map[string]int, len(header))
	known := make(map[string]bool, len(importColumns))
	for _, c := range importColumns {
		known[c] = true
	}
	for i, h := range header {
		name := strings.ToLower(strings.TrimSpace(h))
		if !known[name] {
			return nil, fmt.Sprintf("表头第 %d 列 %q 不认识；表头应为 %s", i+1, truncRunes(h, 40), strings.Join(importColumns, ","))
		}
		if _, dup := cols[name]; dup {
			return nil, fmt.Sprintf("表头列 %s 重复", name)
		}
		cols[name] = i
	}
	var missing []string
	for _, c := range importColumns {
		if _, ok := cols[c]; !ok && c != "fees_fen" {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return nil, "表头缺少列: " + strings.Join(missing, ",")
	}
	return cols, ""
}

// parseImportRecord validates one record; reason lists every problem in it.
func parseImportRecord(rec []string, cols map[string]int, loc *time.Location) (ImportRow, string) {
	if len(rec) != len(cols) {
		return ImportRow{}, fmt.Sprintf("应有 %d 列，实有 %d 列", len(cols), len(rec))
	}
	get := func(name string) string {
		i, ok := cols[name]
		if !ok {
			return ""
		}
		return strings.TrimSpace(rec[i])
	}
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	row := ImportRow{
		Kind: get("kind"), Title: get("title"), Audience: get("audience"),
		Category: get("category"), Venue: get("venue"),
	}
	switch row.Kind {
	case catalog.KindNightSchool, catalog.KindChildcare, catalog.KindActivity:
	default:
		bad("kind 必须是 night_school|childcare|activity 之一")
	}
	switch row.Audience {
	case catalog.AudienceElderly, catalog.AudienceChildren, catalog.AudienceYouth, catalog.AudienceAll:
	default:
		bad("audience 必须是 elderly|children|youth|all 之一")
	}
	if row.Title == "" {
		bad("title 不能为空")
	} else if utf8.RuneCountInString(row.Title) > 100 {
		bad("title 不能超过 100 字")
	}
	if utf8.RuneCountInString(row.Category) > 32 {
		bad("category 不能超过 32 字")
	}
	if utf8.RuneCountInString(row.Venue) > 100 {
		bad("venue 不能超过 100 字")
	}
	starts, okS := parseImportTime(get("starts_at"), loc)
	if !okS {
		bad("starts_at 应为 2024-03-05 19:00 格式")
	}
	ends, okE := parseImportTime(get("ends_at"), loc)
	if !okE {
		bad("ends_at 应为 2024-03-05 21:00 格式")
	}
	if okS && okE && !ends.After(starts) {
		bad("ends_at 必须晚于 starts_at")
	}
	row.StartsAt, row.EndsAt = starts.UTC(), ends.UTC()
	var okC, okA bool
	row.Capacity, okC = parseImportInt(get("capacity"), 1, 100000)
	if !okC {
		bad("capacity 应为 1 到 100000 的整数")
	}
	row.Attendances, okA = parseImportInt(get("attendances"), 0, 100000)
	if !okA {
		bad("attendances 应为 0 到 100000 的整数")
	}
	if okC && okA && row.Attendances > row.Capacity {
		bad("attendances (%d) 不能超过 capacity (%d)", row.Attendances, row.Capacity)
	}
	if s := get("fees_fen"); s != "" {
		f, err := strconv.ParseInt(s, 10, 64)
		if err != nil || f < 0 || f > 1e10 {
			bad("fees_fen 应为不小于 0 的整数（单位：分）")
		}
		row.FeesFen = f
	}
	if len(problems) > 0 {
		return ImportRow{}, strings.Join(problems, "; ")
	}
	return row, ""
}

// parseImportTime reads a local time; a year outside the sane years (SaneTime)
// is refused like a misspelt time.
func parseImportTime(s string, loc *time.Location) (time.Time, bool) {
	for _, layout := range importTimeLayouts {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, models.SaneTime(t)
		}
	}
	return time.Time{}, false
}

func parseImportInt(s string, lo, hi int) (int, bool) {
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, false
	}
	return n, true
}

func truncRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}

// ImportResult counts what an import did.
type ImportResult struct {
	Imported          int `json:"imported"`
	SkippedDuplicates int `json:"skipped_duplicates"`
}

// Imports stores imported history.
type Imports struct {
	DB  *sql.DB
	Now models.Clock
}

// ErrImportInProgress answers an import that waited too long for another one.
var ErrImportInProgress = &models.Error{Kind: models.KindConflict, Code: "import_in_progress", Message: "另一个导入正在进行，请稍后再试"}

// importLockWait is how long an import waits for one already running.
const importLockWait = 30 * time.Second

// ImportSessions stores validated rows in one transaction: all or nothing. Rows
// whose hash is already stored (an earlier import, or the same row twice in this
// file) are skipped.
//
// Imports run one at a time per database (a MySQL named lock, held across the
// commit, shared by every instance): otherwise two imports of overlapping files
// could each create the same new program. The unique row_hash stays the last word:
// should a row slip in anyway, the transaction fails and is retried once.
func (s *Imports) ImportSessions(ctx context.Context, staffID int64, rows []ImportRow) (ImportResult, error) {
	conn, err := s.DB.Conn(ctx)
	if err != nil {
		return ImportResult{}, fmt.Errorf("import: connection: %w", err)
	}
	defer conn.Close()
	var got sql.NullInt64
	if err := conn.QueryRowContext(ctx, `SELECT GET_LOCK(CONCAT('nantian_import:', DATABASE()), ?)`, importLockWait.Seconds()).Scan(&got); err != nil {
		return ImportResult{}, fmt.Errorf("import: lock: %w", err)
	}
	if got.Int64 != 1 {
		return ImportResult{}, ErrImportInProgress
	}
	defer func() {
		// A fresh context: the lock must go even if the request's ended; were this to
		// fail, closing the connection releases it anyway.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if _, err := conn.ExecContext(rctx, `DO RELEASE_LOCK(CONCAT('nantian_import:', DATABASE()))`); err != nil {
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
	}()
	res, err := s.importOnce(ctx, conn, staffID, rows)
	if models.IsDuplicate(err) {
		res, err = s.importOnce(ctx, conn, staffID, rows)
	}
	return res, err
}

type programKey struct{ kind, title, category, audience, venue string }

func (s *Imports) importOnce(ctx context.Context, conn *sql.Conn, staffID int64, rows []ImportRow) (ImportResult, error) {
	var out ImportResult
	now := s.Now()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return out, fmt.Errorf("import: begin: %w", err)
	}
	err = func() error {
		out = ImportResult{}
		fresh, skipped, err := newRows(ctx, tx, rows)
		if err != nil {
			return err
		}
		out.SkippedDuplicates = skipped
		programs := map[programKey]int64{}
		insSession, err := tx.PrepareContext(ctx, `INSERT INTO sessions (program_id, starts_at, ends_at, venue, capacity, booked, waitlisted, status, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, 0, 0, 'closed', ?, ?)`)
		if err != nil {
			return fmt.Errorf("prepare session insert: %w", err)
		}
		defer insSession.Close()
		insImport, err := tx.PrepareContext(ctx, `INSERT INTO session_imports (session_id, row_hash, attendances, fees_fen, imported_by, created_at)
			VALUES (?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return fmt.Errorf("prepare import insert: %w", err)
		}
		defer insImport.Close()
		for _, f := range fresh {
			r, h := f.row, f.hash
			k := programKey{r.Kind, r.Title, r.Category, r.Audience, r.Venue}
			pid, ok := programs[k]
			if !ok {
				if pid, err = importProgram(ctx, tx, now, k); err != nil {
					return err
				}
				programs[k] = pid
			}
			res, err := insSession.ExecContext(ctx, pid, r.StartsAt, r.EndsAt, r.Venue, r.Capacity, now, now)
			if err != nil {
				return fmt.Errorf("insert imported session (line %d): %w", r.Line, err)
			}
			sid, err := res.LastInsertId()
			if err != nil {
				return fmt.Errorf("imported session id: %w", err)
			}
			if _, err := insImport.ExecContext(ctx, sid, h, r.Attendances, r.FeesFen, staffID, now); err != nil {
				return fmt.Errorf("insert session import (line %d): %w", r.Line, err)
			}
			out.Imported++
		}
		return nil
	}()
	if err != nil {
		_ = tx.Rollback()
		return ImportResult{}, err
	}
	if err := tx.Commit(); err != nil {
		return ImportResult{}, fmt.Errorf("import: commit: %w", err)
	}
	return out, nil
}

// freshRow is a row to import, with its hash.
type freshRow struct {
	row  ImportRow
	hash string
}

// newRows keeps the rows not imported before and not repeating an earlier row
// of the file, in file order, and counts the others: what an import writes
// and what its preview announces.
func newRows(ctx context.Context, q models.Querier, rows []ImportRow) ([]freshRow, int, error) {
	seen, err := existingHashes(ctx, q, rows)
	if err != nil {
		return nil, 0, err
	}
	fresh := make([]freshRow, 0, len(rows))
	skipped := 0
	for _, r := range rows {
		h := r.Hash()
		if seen[h] {
			skipped++
			continue
		}
		seen[h] = true
		fresh = append(fresh, freshRow{r, h})
	}
	return fresh, skipped, nil
}

// existingHashes returns which of the rows' hashes are already stored.
func existingHashes(ctx context.Context, tx models.Querier, rows []ImportRow) (map[string]bool, error) {
	seen := make(map[string]bool, len(rows))
	const chunk = 500
	for i := 0; i < len(rows); i += chunk {
		part := rows[i:min(i+chunk, len(rows))]
		args := make([]any, len(part))
		for j, r := range part {
			args[j] = r.Hash()
		}
		q, err := tx.QueryContext(ctx, `SELECT row_hash FROM session_imports WHERE row_hash IN (?`+strings.Repeat(",?", len(part)-1)+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("existing import hashes: %w", err)
		}
		for q.Next() {
			var h string
			if err := q.Scan(&h); err != nil {
				q.Close()
				return nil, fmt.Errorf("scan import hash: %w", err)
			}
			seen[h] = true
		}
		err = q.Err()
		q.Close()
		if err != nil {
			return nil, fmt.Errorf("existing import hashes: %w", err)
		}
	}
	return seen, nil
}

// importProgram finds the program with this identity (any status, so history joins
// a program still running) or creates it archived: it is history, not something
// residents can book.
func importProgram(ctx context.Context, tx *sql.Tx, now time.Time, k programKey) (int64, error) {
	var id int64
	err := tx.QueryRowContext(ctx, `SELECT id FROM programs WHERE kind = ? AND title = ? AND category = ? AND audience = ? AND venue = ?
		ORDER BY id LIMIT 1`, k.kind, k.title, k.category, k.audience, k.venue).Scan(&id)
	if err == nil {
		return id, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("find imported program: %w", err)
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO programs (kind, title, description, category, audience, venue, fee_fen, requires_approval, status, created_at, updated_at)
		VALUES (?, ?, '', ?, ?, ?, 0, ?, 'archived', ?, ?)`, k.kind, k.title, k.category, k.audience, k.venue, k.kind != catalog.KindActivity, now, now)
	if err != nil {
		return 0, fmt.Errorf("create imported program: %w", err)
	}
	return res.LastInsertId()
}
