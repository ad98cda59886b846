package complaint

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"nantian/models"
)

// Complaint statuses. submitted → accepted → contacted → resolved → closed; a
// resolved work order the resident is unhappy with goes to reopened, which staff
// accept again.
const (
	ComplaintSubmitted = "submitted"
	ComplaintAccepted  = "accepted"
	ComplaintContacted = "contacted"
	ComplaintResolved  = "resolved"
	ComplaintClosed    = "closed"
	ComplaintReopened  = "reopened"
)

// ComplaintStatuses lists every status, in workflow order.
var ComplaintStatuses = []string{ComplaintSubmitted, ComplaintAccepted, ComplaintContacted, ComplaintResolved, ComplaintClosed, ComplaintReopened}

// ComplaintCategories is the fixed list residents choose from.
var ComplaintCategories = []string{"物业管理", "充电难", "房屋漏水", "噪音扰民", "环境卫生", "公共设施", "邻里纠纷", "安全隐患", "其他"}

// complaintStatusWord is the short word shown in the subscribe message (phrase ≤ 5).
var complaintStatusWord = map[string]string{
	ComplaintSubmitted: "已提交",
	ComplaintAccepted:  "已受理",
	ComplaintContacted: "已联系",
	ComplaintResolved:  "已办结",
	ComplaintClosed:    "已关闭",
	ComplaintReopened:  "重新办理",
}

// Actor roles in a complaint's timeline besides the user roles.
const ActorSystem = "system"

// Limits on complaint input.
const (
	MaxComplaintRunes  = 1000
	MaxComplaintPhotos = 9
)

// Complaint errors.
var (
	ErrContentRejected = models.Rule("content_rejected", "内容未通过安全检测，请修改后再提交")
)

// ValidComplaintCategory reports whether c is one of ComplaintCategories.
func ValidComplaintCategory(c string) bool {
	for _, k := range ComplaintCategories {
		if k == c {
			return true
		}
	}
	return false
}

// ValidComplaintStatus reports whether s is a complaint status.
func ValidComplaintStatus(s string) bool {
	for _, k := range ComplaintStatuses {
		if k == s {
			return true
		}
	}
	return false
}

// RetryAfterError is a 429 that tells the client when to try again.
type RetryAfterError struct {
	Err   *models.Error
	After time.Duration
}

func (e *RetryAfterError) Error() string { return e.Err.Error() }

// Unwrap lets AsError find the domain error inside.
func (e *RetryAfterError) Unwrap() error { return e.Err }

// Complaint is a 民意速办 work order.
type Complaint struct {
	ID                 int64            `json:"id"`
	UserID             int64            `json:"user_id"`
	Category           string           `json:"category"`
	Content            string           `json:"content"`
	Estate             string           `json:"estate"`
	Location           string           `json:"location"`
	ContactPhone       string           `json:"contact_phone"`
	Status             string           `json:"status"`
	NeedsReview        bool             `json:"needs_review"`
	CreatedAt          time.Time        `json:"created_at"`
	AcceptDueAt        time.Time        `json:"accept_due_at"`
	ContactDueAt       time.Time        `json:"contact_due_at"`
	ResolveDueAt       time.Time        `json:"resolve_due_at"`
	AcceptedAt         *time.Time       `json:"accepted_at"`
	ContactedAt        *time.Time       `json:"contacted_at"`
	ResolvedAt         *time.Time       `json:"resolved_at"`
	ClosedAt           *time.Time       `json:"closed_at"`
	Resolution         string           `json:"resolution"`
	MediationAgreement bool             `json:"mediation_agreement"`
	Rating             *int             `json:"rating"`
	RatingComment      string           `json:"rating_comment"`
	ReopenCount        int              `json:"reopen_count"`
	Overdue            bool             `json:"overdue"`
	PhotoIDs           []int64          `json:"photo_ids"`
	AgreementPhotoIDs  []int64          `json:"agreement_photo_ids"`
	Timeline           []ComplaintEvent `json:"timeline,omitempty"`

	reviewReason string
}

// ComplaintEvent is one step of the timeline. ActorID is kept for audit but never
// leaves the server: residents see the role, not the staff member.
type ComplaintEvent struct {
	Status    string    `json:"status"`
	At        time.Time `json:"at"`
	ActorRole string    `json:"actor_role"`
	ActorID   *int64    `json:"-"`
	Note      string    `json:"note"`
}

// ComplaintInput is what a resident files.
type ComplaintInput struct {
	Category     string  `json:"category" binding:"required"`
	Content      string  `json:"content" binding:"required,max=1000"`
	Estate       string  `json:"estate" binding:"required,max=32"`
	Location     string  `json:"location" binding:"required,max=200"`
	PhotoIDs     []int64 `json:"photo_ids" binding:"max=9"`
	ContactPhone *string `json:"contact_phone" binding:"omitempty,max=32"`
}

// Screening is the outcome of the content check made before filing: NeedsReview
// marks text that could not be cleared automatically, Reason says why.
type Screening struct {
	NeedsReview bool
	Reason      string // wechat_review, wechat_unavailable, wechat_error, no_openid
}

// Complaints stores work orders and runs the 10-30-24 clock.
type Complaints struct {
	DB  *sql.DB
	Now models.Clock
	Loc *time.Location // business days ("10 a day"), months in statistics

	AcceptWithin   time.Duration
	ContactWithin  time.Duration
	ResolveWithin  time.Duration
	AutoCloseAfter time.Duration
	DailyLimit     int

	Cipher *models.DataCipher // contact phones are stored encrypted (crypto.go)
	Audit  *models.Audit      // staff reads of a full contact phone (Detail)
}

// complaintColumns are what scanComplaint reads. rating and rating_comment are
// the verdict on the current resolution only: a work order closed by its rating
// (rated at or after its latest resolution) shows it; one in rework after a low
// rating, resolved again and awaiting a new verdict, or auto-closed unrated shows
// null, and the earlier ratings stay in the timeline (评价 N 分 steps).
const complaintColumns = `c.id, c.user_id, c.category, c.content, c.estate, c.location, c.contact_phone_enc, c.status,
	c.needs_review, c.review_reason, c.created_at, c.accept_due_at, c.contact_due_at, c.resolve_due_at, c.accepted_at,
	c.contacted_at, c.resolved_at, c.closed_at, COALESCE(c.resolution, ''), c.mediation_agreement,
	CASE WHEN ` + currentRatingSQL + ` THEN c.rating END,
	CASE WHEN ` + currentRatingSQL + ` THEN c.rating_comment ELSE '' END, c.reopen_count`

// currentRatingSQL: the stored rating is the verdict that closed the current
// resolution.
const currentRatingSQL = `c.status = 'closed' AND c.rated_at >= c.resolved_at`

func scanComplaint(row interface{ Scan(...any) error }, now time.Time, dc *models.DataCipher) (Complaint, error) {
	var c Complaint
	var rating sql.NullInt64
	var phone []byte
	err := row.Scan(&c.ID, &c.UserID, &c.Category, &c.Content, &c.Estate, &c.Location, &phone, &c.Status,
		&c.NeedsReview, &c.reviewReason, &c.CreatedAt, &c.AcceptDueAt, &c.ContactDueAt, &c.ResolveDueAt, &c.AcceptedAt,
		&c.ContactedAt, &c.ResolvedAt, &c.ClosedAt, &c.Resolution, &c.MediationAgreement, &rating,
		&c.RatingComment, &c.ReopenCount)
	if err != nil {
		return c, err
	}
	if c.ContactPhone, err = dc.Open("complaints", "contact_phone", c.ID, phone); err != nil {
		return c, err
	}
	if rating.Valid {
		r := int(rating.Int64)
		c.Rating = &r
	}
	c.Overdue = c.isOverdue(now)
	c.PhotoIDs, c.AgreementPhotoIDs = []int64{}, []int64{}
	return c, nil
}

// isOverdue mirrors overdueSQL for one complaint: some step whose due time has
// passed is not done yet.
func (c Complaint) isOverdue(now time.Time) bool {
	switch c.Status {
	case ComplaintSubmitted, ComplaintReopened:
		return now.After(c.AcceptDueAt) || now.After(c.ContactDueAt) || now.After(c.ResolveDueAt)
	case ComplaintAccepted:
		return now.After(c.ContactDueAt) || now.After(c.ResolveDueAt)
	case ComplaintContacted:
		return now.After(c.ResolveDueAt)
	}
	return false
}

// overdueSQL is the "overdue" query over the stored due times (one ? for now, used
// three times).
const overdueSQL = `((c.status IN ('submitted','reopened') AND c.accept_due_at < ?)
	OR (c.status IN ('submitted','reopened','accepted') AND c.contact_due_at < ?)
	OR (c.status IN ('submitted','reopened','accepted','contacted') AND c.resolve_due_at < ?))`

// openOverdueSQL is overdueSQL behind the indexed is_open column (migration
// 0033): only work orders still being handled are read, through
// idx_complaints_open, however many closed ones the years have left.
const openOverdueSQL = `c.is_open = 1 AND ` + overdueSQL

// CountOverdue counts the work orders past one of their 10-30-24 limits at now.
func CountOverdue(ctx context.Context, q models.RowQuerier, now time.Time) (int, error) {
	var n int
	if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM complaints c WHERE `+openOverdueSQL, now, now, now).Scan(&n); err != nil {
		return 0, fmt.Errorf("count overdue complaints: %w", err)
	}
	return n, nil
}

var phonePattern = regexp.MustCompile(`^\+?[0-9][0-9 -]{4,30}$`)

// dayStart is the start of the business day containing t, in UTC.
func dayStart(t time.Time, loc *time.Location) time.Time {
	l := t.In(loc)
	return time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, loc).UTC()
}

// Create files a complaint for userID. Due times for all three limits are
// computed from the receipt time and stored. The per-day limit is checked with
// the filer's user row locked, so concurrent filings cannot slip past it.
func (s *Complaints) Create(ctx context.Context, userID int64, in ComplaintInput, scr Screening) (Complaint, error) {
	in.Category = strings.TrimSpace(in.Category)
	in.Content = strings.TrimSpace(in.Content)
	in.Estate = strings.TrimSpace(in.Estate)
	in.Location = strings.TrimSpace(in.Location)
	if !ValidComplaintCategory(in.Category) {
		return Complaint{}, models.Invalid("category", "必须是 %s 之一", strings.Join(ComplaintCategories, "|"))
	}
	if in.Content == "" {
		return Complaint{}, models.Invalid("content", "必填")
	}
	if utf8.RuneCountInString(in.Content) > MaxComplaintRunes {
		return Complaint{}, models.Invalid("content", "不能超过 %d 字", MaxComplaintRunes)
	}
	if in.Location == "" {
		return Complaint{}, models.Invalid("location", "必填")
	}
	if len(in.PhotoIDs) > MaxComplaintPhotos {
		return Complaint{}, models.Invalid("photo_ids", "最多 %d 张照片", MaxComplaintPhotos)
	}
	now := s.Now()
	var id int64
	// InTxRetry: the insert's rollup trigger upserts shared day rows (ExecRetry).
	err := models.InTxRetry(ctx, s.DB, func(tx *sql.Tx) error {
		var phone []byte
		if err := tx.QueryRowContext(ctx, `SELECT phone_enc FROM users WHERE id = ? FOR UPDATE`, userID).Scan(&phone); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return models.ErrNotFound
			}
			return fmt.Errorf("lock filer: %w", err)
		}
		contact, err := s.Cipher.Open("users", "phone", userID, phone)
		if err != nil {
			return fmt.Errorf("filer's phone: %w", err)
		}
		if in.ContactPhone != nil && strings.TrimSpace(*in.ContactPhone) != "" {
			contact = strings.TrimSpace(*in.ContactPhone)
			if !phonePattern.MatchString(contact) {
				return models.Invalid("contact_phone", "电话号码格式不正确")
			}
		}
		if err := models.RequireEstate(ctx, tx, "estate", in.Estate); err != nil {
			return err
		}
		if s.DailyLimit > 0 {
			start := dayStart(now, s.Loc)
			var today int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM complaints WHERE user_id = ? AND created_at >= ?`, userID, start).Scan(&today); err != nil {
				return fmt.Errorf("count today's complaints: %w", err)
			}
			if today >= s.DailyLimit {
				next := dayStart(now.In(s.Loc).AddDate(0, 0, 1), s.Loc)
				return &RetryAfterError{
					Err:   &models.Error{Kind: models.KindTooMany, Code: "rate_limited", Message: fmt.Sprintf("每天最多提交 %d 件诉求，请明天再试", s.DailyLimit)},
					After: next.Sub(now),
				}
			}
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO complaints (user_id, category, content, estate, location, status,
			needs_review, review_reason, created_at, cycle_started_at, accept_due_at, contact_due_at, resolve_due_at, updated_at)
			VALUES (?, ?, ?, ?, ?, 'submitted', ?, ?, ?, ?, ?, ?, ?, ?)`,
			userID, in.Category, in.Content, in.Estate, in.Location, scr.NeedsReview, scr.Reason,
			now, now, now.Add(s.AcceptWithin), now.Add(s.ContactWithin), now.Add(s.ResolveWithin), now)
		if err != nil {
			return fmt.Errorf("insert complaint: %w", err)
		}
		id, _ = res.LastInsertId()
		// The contact phone is sealed to the new row's id, in the same transaction.
		enc, err := s.Cipher.Seal("complaints", "contact_phone", id, contact)
		if err != nil {
			return fmt.Errorf("seal contact phone: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE complaints SET contact_phone_enc = ? WHERE id = ?`, enc, id); err != nil {
			return fmt.Errorf("store contact phone: %w", err)
		}
		uid := userID
		if err := addEvent(ctx, tx, id, ComplaintSubmitted, now, models.RoleResident, &uid, ""); err != nil {
			return err
		}
		return attachUploads(ctx, tx, in.PhotoIDs, userID, id, "photo", "photo_ids")
	})
	if err != nil {
		return Complaint{}, err
	}
	return s.Get(ctx, id, models.Principal{UserID: userID, Role: models.RoleResident}, false)
}

func addEvent(ctx context.Context, tx *sql.Tx, complaintID int64, status string, at time.Time, role string, actor *int64, note string) error {
	var a any
	if actor != nil {
		a = *actor
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO complaint_events (complaint_id, status, at, actor_role, actor_id, note) VALUES (?, ?, ?, ?, ?, ?)`,
		complaintID, status, at, role, a, note); err != nil {
		return fmt.Errorf("add complaint event: %w", err)
	}
	return nil
}

// Get returns a complaint the caller may see: its filer, or staff. Anyone else
// gets ErrNotFound. withTimeline adds the steps.
func (s *Complaints) Get(ctx context.Context, id int64, p models.Principal, withTimeline bool) (Complaint, error) {
	return s.get(ctx, id, p, withTimeline, false)
}

// get reads one work order for p; staff who did not file it see the contact
// phone masked unless fullContact (Detail, which audits the read).
func (s *Complaints) get(ctx context.Context, id int64, p models.Principal, withTimeline, fullContact bool) (Complaint, error) {
	now := s.Now()
	c, err := scanComplaint(s.DB.QueryRowContext(ctx, `SELECT `+complaintColumns+` FROM complaints c WHERE c.id = ?`, id), now, s.Cipher)
	if errors.Is(err, sql.ErrNoRows) {
		return Complaint{}, models.ErrNotFound
	}
	if err != nil {
		return Complaint{}, fmt.Errorf("get complaint %d: %w", id, err)
	}
	if !models.IsStaff(p.Role) && c.UserID != p.UserID {
		return Complaint{}, models.ErrNotFound
	}
	if c.UserID != p.UserID && !fullContact {
		c.ContactPhone = models.MaskPhone(c.ContactPhone) // full only in Detail, audited
	}
	one := []Complaint{c}
	if err := attachPhotos(ctx, s.DB, one); err != nil {
		return Complaint{}, err
	}
	c = one[0]
	if withTimeline {
		if c.Timeline, err = s.timeline(ctx, id); err != nil {
			return Complaint{}, err
		}
	}
	return c, nil
}

// ActionReadContact is the audit action of a staff read of a complaint's full
// contact phone.
const ActionReadContact = "READ complaint contact"

// Detail is one work order with its timeline, as its page shows it: the filer
// sees their own; staff see every estate's, with the full contact phone (every
// list and step answer shows it masked), and that read is written to the audit
// log first (as the reader in ctx, see WithReader). A read that cannot be
// audited does not happen.
func (s *Complaints) Detail(ctx context.Context, id int64, p models.Principal) (Complaint, error) {
	c, err := s.get(ctx, id, p, true, true)
	if err != nil || c.UserID == p.UserID || c.ContactPhone == "" {
		return c, err
	}
	rd, ok := models.ReaderFrom(ctx)
	if !ok {
		rd = models.Reader{Principal: p}
	}
	if err := s.Audit.Record(ctx, models.AuditEntry{
		ActorID: p.UserID, ActorRole: p.Role, Action: ActionReadContact,
		Target: "complaint_id=" + strconv.FormatInt(id, 10), Status: 200,
		RequestID: rd.RequestID, RequestBody: []byte(`{"route":` + strconv.Quote(rd.Route) + `}`),
	}); err != nil {
		return Complaint{}, fmt.Errorf("%w: audit contact read: %w", models.ErrUnavailable, err)
	}
	return c, nil
}

func (s *Complaints) timeline(ctx context.Context, id int64) ([]ComplaintEvent, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT status, at, actor_role, actor_id, note FROM complaint_events WHERE complaint_id = ? ORDER BY id`, id)
	if err != nil {
		return nil, fmt.Errorf("complaint timeline: %w", err)
	}
	return models.ScanAll(rows, "scan complaint event", func(r models.RowScanner) (ComplaintEvent, error) {
		var e ComplaintEvent
		err := r.Scan(&e.Status, &e.At, &e.ActorRole, &e.ActorID, &e.Note)
		return e, err
	})
}

// ComplaintFilter narrows a list. UserID > 0 limits it to one filer (a resident's
// own list); the rest are the staff filters.
type ComplaintFilter struct {
	UserID      int64
	Status      string
	Category    string
	Estate      string
	Overdue     bool
	NeedsReview bool
	From, To    *time.Time // received at in [From, To)
	Page        models.Page
}

// List returns complaints newest first; the cursor is the last id seen. Each
// staff filter has an index ending in id (migration 0033: is_open, needs_review,
// category, estate, category+estate; status from 0003), so a page walks one index
// backwards and stops after the limit. A list
// not scoped to one filer (f.UserID, the resident's own) is the staff queue,
// where contact phones are masked.
func (s *Complaints) List(ctx context.Context, f ComplaintFilter) ([]Complaint, error) {
	now := s.Now()
	where := []string{"1=1"}
	var args []any
	add := func(cond string, a ...any) { where = append(where, cond); args = append(args, a...) }
	if f.UserID > 0 {
		add("c.user_id = ?", f.UserID)
	}
	if f.Status != "" {
		add("c.status = ?", f.Status)
	}
	if f.Category != "" {
		add("c.category = ?", f.Category)
	}
	if f.Estate != "" {
		add("c.estate = ?", f.Estate)
	}
	if f.Overdue {
		add(openOverdueSQL, now, now, now)
	}
	if f.NeedsReview {
		add("c.needs_review = 1")
	}
	if f.From != nil {
		add("c.created_at >= ?", *f.From)
	}
	if f.To != nil {
		add("c.created_at < ?", *f.To)
	}
	if f.Page.AfterID > 0 {
		add("c.id < ?", f.Page.AfterID)
	}
	limit := f.Page.Limit
	if limit <= 0 {
		limit = 20
	}
	args = append(args, limit)
	// ?overdue=true names its index: left to itself MariaDB walks the primary key
	// back from the newest work order (391 rows at district size with 8% open,
	// all of history when the open ones are few and old); the open ones are what
	// is bounded, by the staff's workload rather than by the years.
	from := `complaints c`
	if f.Overdue && f.UserID == 0 {
		from = `complaints c FORCE INDEX (idx_complaints_open)`
	}
	rows, err := s.DB.QueryContext(ctx, `SELECT `+complaintColumns+` FROM `+from+` WHERE `+strings.Join(where, " AND ")+` ORDER BY c.id DESC LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("list complaints: %w", err)
	}
	out, err := models.ScanAll(rows, "scan complaint", func(r models.RowScanner) (Complaint, error) {
		c, err := scanComplaint(r, now, s.Cipher)
		if f.UserID == 0 {
			c.ContactPhone = models.MaskPhone(c.ContactPhone) // the staff queue; full only in Detail
		}
		return c, err
	})
	if err != nil {
		return nil, err
	}
	if err := attachPhotos(ctx, s.DB, out); err != nil {
		return nil, err
	}
	return out, nil
}

// step is one guarded transition: UPDATE ... WHERE status IN (from), plus the
// timeline row and the outbox row, all in one transaction.
type step struct {
	id      int64
	from    []string
	to      string
	ownerID int64 // > 0: only this filer may take the step (others: not found)
	sets    string
	args    []any
	role    string
	actor   *int64
	note    string
	extra   func(tx *sql.Tx, now time.Time) error
	// guard adds conditions to the UPDATE's WHERE (with guardArgs).
	guard     string
	guardArgs []any
}

func (s *Complaints) apply(ctx context.Context, st step, now time.Time) (Complaint, error) {
	err := s.applyAt(ctx, st, now)
	if err != nil {
		return Complaint{}, err
	}
	p := models.Principal{UserID: st.ownerID, Role: models.RoleStaff}
	if st.ownerID > 0 {
		p.Role = models.RoleResident
	}
	return s.Get(ctx, st.id, p, true)
}

func (s *Complaints) applyAt(ctx context.Context, st step, now time.Time) error {
	// InTxRetry: the update's rollup trigger upserts shared day rows (ExecRetry);
	// everything here, the outbox entry included, is in the transaction.
	return models.InTxRetry(ctx, s.DB, func(tx *sql.Tx) error {
		marks := strings.TrimSuffix(strings.Repeat("?,", len(st.from)), ",")
		args := []any{st.to, now}
		args = append(args, st.args...)
		args = append(args, st.id)
		for _, f := range st.from {
			args = append(args, f)
		}
		q := `UPDATE complaints SET status = ?, updated_at = ?` + st.sets + ` WHERE id = ? AND status IN (` + marks + `)`
		q += st.guard
		args = append(args, st.guardArgs...)
		if st.ownerID > 0 {
			q += ` AND user_id = ?`
			args = append(args, st.ownerID)
		}
		res, err := tx.ExecContext(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("complaint %s: %w", st.to, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			var owner int64
			err := tx.QueryRowContext(ctx, `SELECT user_id FROM complaints WHERE id = ?`, st.id).Scan(&owner)
			if errors.Is(err, sql.ErrNoRows) || (err == nil && st.ownerID > 0 && owner != st.ownerID) {
				return models.ErrNotFound
			}
			if err != nil {
				return fmt.Errorf("complaint %d: %w", st.id, err)
			}
			return models.ErrInvalidTransition
		}
		if err := addEvent(ctx, tx, st.id, st.to, now, st.role, st.actor, st.note); err != nil {
			return err
		}
		if st.extra != nil {
			if err := st.extra(tx, now); err != nil {
				return err
			}
		}
		return s.notify(ctx, tx, st.id, st.to, now)
	})
}

// notify writes the resident's subscribe message for a status change into the
// outbox, inside the transaction that made the change.
func (s *Complaints) notify(ctx context.Context, tx *sql.Tx, id int64, status string, now time.Time) error {
	var userID int64
	var category string
	if err := tx.QueryRowContext(ctx, `SELECT user_id, category FROM complaints WHERE id = ?`, id).Scan(&userID, &category); err != nil {
		return fmt.Errorf("load complaint for notification: %w", err)
	}
	return models.EnqueueNotification(ctx, tx, func() time.Time { return now }, models.Notification{
		UserID:      userID,
		Event:       "complaint_" + status,
		TemplateKey: models.TemplateComplaintUpdate,
		Page:        "pages/complaints/detail?id=" + strconv.FormatInt(id, 10),
		Data: map[string]string{
			"thing1":  category,
			"phrase2": complaintStatusWord[status],
			"time3":   now.In(s.Loc).Format("2006-01-02 15:04"),
		},
	})
}

// Accept: staff take a submitted (or reopened) work order.
func (s *Complaints) Accept(ctx context.Context, id int64, staff models.Principal, note string) (Complaint, error) {
	uid, now := staff.UserID, s.Now()
	return s.apply(ctx, step{id: id, from: []string{ComplaintSubmitted, ComplaintReopened}, to: ComplaintAccepted,
		sets: `, accepted_at = ?, handler_id = ?`, args: []any{now, uid},
		role: staff.Role, actor: &uid, note: strings.TrimSpace(note)}, now)
}

// Contact records that staff reached the resident; the note (what was said) is
// required.
func (s *Complaints) Contact(ctx context.Context, id int64, staff models.Principal, note string) (Complaint, error) {
	note = strings.TrimSpace(note)
	if note == "" {
		return Complaint{}, models.Invalid("note", "必填")
	}
	uid, now := staff.UserID, s.Now()
	return s.apply(ctx, step{id: id, from: []string{ComplaintAccepted}, to: ComplaintContacted,
		sets: `, contacted_at = ?`, args: []any{now},
		role: staff.Role, actor: &uid, note: note}, now)
}

// ResolveInput closes the handling of a work order.
type ResolveInput struct {
	Resolution         string  `json:"resolution" binding:"required,max=1000"`
	MediationAgreement bool    `json:"mediation_agreement"`
	PhotoIDs           []int64 `json:"photo_ids" binding:"max=9"`
}

// Resolve records the resolution. Photos of a signed mediation agreement must be
// uploads of the resolving staff member; a mediation agreement once signed stays
// counted even if the order is reworked later.
func (s *Complaints) Resolve(ctx context.Context, id int64, staff models.Principal, in ResolveInput) (Complaint, error) {
	in.Resolution = strings.TrimSpace(in.Resolution)
	if in.Resolution == "" {
		return Complaint{}, models.Invalid("resolution", "必填")
	}
	if utf8.RuneCountInString(in.Resolution) > MaxComplaintRunes {
		return Complaint{}, models.Invalid("resolution", "不能超过 %d 字", MaxComplaintRunes)
	}
	if len(in.PhotoIDs) > MaxComplaintPhotos {
		return Complaint{}, models.Invalid("photo_ids", "最多 %d 张照片", MaxComplaintPhotos)
	}
	uid, now := staff.UserID, s.Now()
	return s.apply(ctx, step{id: id, from: []string{ComplaintContacted}, to: ComplaintResolved,
		sets: `, resolved_at = ?, resolution = ?, mediation_agreement = GREATEST(mediation_agreement, ?)`,
		args: []any{now, in.Resolution, in.MediationAgreement},
		role: staff.Role, actor: &uid, note: in.Resolution,
		extra: func(tx *sql.Tx, _ time.Time) error {
			return attachUploads(ctx, tx, in.PhotoIDs, uid, id, "agreement", "photo_ids")
		}}, now)
}

// reopenSets starts a new handling cycle: fresh due times from now, and the
// accept/contact marks of the previous cycle cleared so they are not counted
// against the new deadlines. resolved_at keeps the latest resolution.
func (s *Complaints) reopenSets(now time.Time) (string, []any) {
	return `, reopen_count = reopen_count + 1, cycle_started_at = ?, accept_due_at = ?, contact_due_at = ?, resolve_due_at = ?,
		accepted_at = NULL, contacted_at = NULL, handler_id = NULL`,
		[]any{now, now.Add(s.AcceptWithin), now.Add(s.ContactWithin), now.Add(s.ResolveWithin)}
}

// RatingInput is the resident's verdict on a resolution.
type RatingInput struct {
	Score   int    `json:"score" binding:"required,min=1,max=5"`
	Comment string `json:"comment" binding:"max=500"`
}

// Rate records the filer's rating of a resolved work order. A score of 2 or less
// sends it back for rework (reopened, new deadlines); a higher score closes it.
func (s *Complaints) Rate(ctx context.Context, id int64, resident models.Principal, in RatingInput) (Complaint, error) {
	if in.Score < 1 || in.Score > 5 {
		return Complaint{}, models.Invalid("score", "必须是 1 到 5")
	}
	in.Comment = strings.TrimSpace(in.Comment)
	now := s.Now()
	uid := resident.UserID
	sets := `, rating = ?, rating_comment = ?, rated_at = ?`
	args := []any{in.Score, in.Comment, now}
	to := ComplaintClosed
	if in.Score <= 2 {
		to = ComplaintReopened
		rs, ra := s.reopenSets(now)
		sets += rs
		args = append(args, ra...)
	} else {
		sets += `, closed_at = ?`
		args = append(args, now)
	}
	note := fmt.Sprintf("评价 %d 分", in.Score)
	if in.Comment != "" {
		note += "：" + in.Comment
	}
	return s.apply(ctx, step{id: id, from: []string{ComplaintResolved}, to: to, ownerID: uid,
		sets: sets, args: args, role: models.RoleResident, actor: &uid, note: note}, now)
}

// Reopen sends a resolved work order back for rework at the filer's request.
func (s *Complaints) Reopen(ctx context.Context, id int64, resident models.Principal, reason string) (Complaint, error) {
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return Complaint{}, models.Invalid("reason", "必填")
	}
	if utf8.RuneCountInString(reason) > 500 {
		return Complaint{}, models.Invalid("reason", "不能超过 500 字")
	}
	uid, now := resident.UserID, s.Now()
	sets, args := s.reopenSets(now)
	return s.apply(ctx, step{id: id, from: []string{ComplaintResolved}, to: ComplaintReopened, ownerID: uid,
		sets: sets, args: args, role: models.RoleResident, actor: &uid, note: reason}, now)
}

// unratedSQL: the current resolution has no rating yet (a rating from before a
// rework is older than resolved_at, which each resolution moves forward).
const unratedSQL = `(rating IS NULL OR rated_at < resolved_at)`

// AutoClose closes work orders resolved more than AutoCloseAfter ago that the
// filer has not rated since that resolution, at most limit per call, and returns
// how many it closed. A low rating of an earlier cycle stays on the row after a
// rework (unratedSQL), so "unrated" means no rating or one older than the latest
// resolution. Each close is its own guarded transition (still resolved, still
// unrated), so several instances running it at once close each order once, and a
// rating that lands meanwhile wins.
func (s *Complaints) AutoClose(ctx context.Context, limit int) (int, error) {
	now := s.Now()
	cutoff := now.Add(-s.AutoCloseAfter)
	ids, err := models.QueryColumn[int64](ctx, s.DB, `SELECT id FROM complaints WHERE status = 'resolved' AND `+unratedSQL+` AND resolved_at < ? ORDER BY id LIMIT ?`, cutoff, limit)
	if err != nil {
		return 0, fmt.Errorf("find complaints to auto-close: %w", err)
	}
	closed := 0
	for _, id := range ids {
		err := s.applyAt(ctx, step{id: id, from: []string{ComplaintResolved}, to: ComplaintClosed,
			sets: `, closed_at = ?`, args: []any{now}, role: ActorSystem, note: "办结后未评价，自动关闭",
			guard: ` AND ` + unratedSQL + ` AND resolved_at < ?`, guardArgs: []any{cutoff}}, now)
		if errors.Is(err, models.ErrInvalidTransition) || errors.Is(err, models.ErrNotFound) {
			continue // another instance (or a rating) got there first
		}
		if err != nil {
			return closed, err
		}
		closed++
	}
	return closed, nil
}
