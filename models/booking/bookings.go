package booking

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"nantian/models"
	"nantian/models/catalog"

	"github.com/go-sql-driver/mysql"
)

// Booking statuses: waitlisted → pending → confirmed → attended, and the ends
// cancelled, rejected, no_show, expired. pending, confirmed and attended hold a
// place (sessions.booked); waitlisted waits for one (sessions.waitlisted).
const (
	BookingWaitlisted = "waitlisted"
	BookingPending    = "pending"
	BookingConfirmed  = "confirmed"
	BookingAttended   = "attended"
	BookingCancelled  = "cancelled"
	BookingRejected   = "rejected"
	BookingNoShow     = "no_show"
	BookingExpired    = "expired"
	// BookingAwaitingPayment (bookings_payment.go) also holds a place.
)

// ValidBookingStatus reports whether s is a booking status.
func ValidBookingStatus(s string) bool {
	switch s {
	case BookingWaitlisted, BookingPending, BookingAwaitingPayment, BookingConfirmed, BookingAttended, BookingCancelled, BookingRejected, BookingNoShow, BookingExpired:
		return true
	}
	return false
}

// Booking errors (api.md, Bookings).
var (
	ErrSessionFull      = &models.Error{Kind: models.KindConflict, Code: "session_full", Message: "名额已满"}
	ErrAlreadyBooked    = &models.Error{Kind: models.KindConflict, Code: "already_booked", Message: "已经预约过该场次"}
	ErrBookingClosed    = &models.Error{Kind: models.KindRule, Code: "booking_closed", Message: "该场次不在预约时间内（已开始、已结束、已关闭或已取消）"}
	ErrBookingSuspended = &models.Error{Kind: models.KindForbidden, Code: "booking_suspended", Message: "爽约次数过多，暂停预约"}
)

// NotEligible is the 422 for age or kind rules, with the reason.
func NotEligible(reason string) *models.Error {
	return &models.Error{Kind: models.KindRule, Code: "not_eligible", Message: reason}
}

// BookingRules are the product rules the engine applies (config.BookingRules).
type BookingRules struct {
	FreeCancelBefore time.Duration
	NoShowLimit      int
	NoShowWindow     time.Duration
	SuspendFor       time.Duration
	// CheckInOpensBefore: a booking can be checked in from this long before its
	// session starts until the end of the local day the session ends on.
	CheckInOpensBefore time.Duration
	// LateCancelRefundPercent is how much of a paid fee a cancel after the free
	// window gives back (PAYMENT_LATE_CANCEL_REFUND_PERCENT, default 0: kept).
	LateCancelRefundPercent int
}

// Booking is one participant's place (or place in line) in one session.
type Booking struct {
	ID               int64        `json:"id"`
	SessionID        int64        `json:"session_id"`
	ProgramID        int64        `json:"program_id"`
	UserID           int64        `json:"user_id"`
	ChildID          *int64       `json:"child_id"`
	Status           string       `json:"status"`
	Code             string       `json:"code"`
	FeeFen           int64        `json:"fee_fen"`
	PaymentStatus    string       `json:"payment_status"`
	OrderID          *int64       `json:"-"`
	Payment          *PaymentInfo `json:"payment,omitempty"` // set when an order was just placed
	WaitlistPosition *int         `json:"waitlist_position,omitempty"`
	LateCancel       bool         `json:"late_cancel"`
	RejectReason     string       `json:"reject_reason,omitempty"`
	CheckedInAt      *time.Time   `json:"checked_in_at"`
	CreatedAt        time.Time    `json:"created_at"`
	UpdatedAt        time.Time    `json:"updated_at"`
	ProgramTitle     string       `json:"program_title"`
	StartsAt         time.Time    `json:"starts_at"`

	participant string
}

// BookInput is POST /bookings.
type BookInput struct {
	SessionID int64  `json:"session_id" binding:"required,min=1"`
	ChildID   *int64 `json:"child_id" binding:"omitempty,min=1"`
	Waitlist  bool   `json:"waitlist"`

	// onBehalf is set by BookOnBehalf (staff booking for a walk-in): the
	// booking transaction share-locks the resident's row and requires it to be a
	// live walk-in, so a concurrent merge cannot leave a booking behind on it.
	onBehalf bool
}

// BookOnBehalf is Book for staff booking at the desk for a walk-in resident
// (代预约): the same rules, the same gate and guard, plus lockWalkIn.
func (b *Bookings) BookOnBehalf(ctx context.Context, residentID int64, in BookInput) (Booking, error) {
	in.onBehalf = true
	return b.Book(ctx, residentID, in)
}

// Bookings is the booking engine: the Redis gate in front, the MySQL guard
// deciding, the waiting list, staff transitions and check-in.
type Bookings struct {
	DB          *sql.DB
	Gate        *Gate
	GateEnabled bool // false sends every booking straight to the guard (BOOKING_GATE)
	Now         models.Clock
	Loc         *time.Location
	Rules       BookingRules
	Cache       *catalog.CatalogCache // invalidated on every change that moves counts; may be nil
	Cipher      *models.DataCipher    // decrypts phones and children's names for the roster
	ChildReads  *models.ChildReads    // audits staff reads of children's data (the roster)
	// Payments collects fees (bookings_payment.go); nil books paid programs
	// without collecting, as before payments existed.
	Payments PaymentDesk

	metaMu  sync.RWMutex
	metas   map[int64]sessionMeta
	soldOut sync.Map // session id → *soldOutMark: known full here, and who holds its places
}

// soldOutMark says a session was full at this instance's last look, until
// `until` (unix nanos), and which participants held its places then (the gate's
// set, read once when the mark was set). With it, a sold-out request is answered
// without a round trip and still truthfully: already_booked to a holder,
// session_full to everyone else. holders is nil while it is being read, and such
// a mark is not used.
type soldOutMark struct {
	until   int64
	holders map[string]struct{}
}

// How long this instance trusts what it read about a session.
const (
	metaTTL    = time.Second
	soldOutTTL = time.Second
)

// sessionMeta is what a booking needs to know about its session and program; it
// is cached for metaTTL so a sold-out request costs no MySQL query.
type sessionMeta struct {
	SessionID        int64
	ProgramID        int64
	StartsAt         time.Time
	EndsAt           time.Time
	OpensAt          *time.Time
	Status           string
	Kind             string
	Title            string
	FeeFen           int64
	RequiresApproval bool
	MinAge, MaxAge   *int
	ProgramActive    bool
	loaded           time.Time
}

func (b *Bookings) meta(ctx context.Context, sessionID int64) (sessionMeta, error) {
	b.metaMu.RLock()
	m, ok := b.metas[sessionID]
	b.metaMu.RUnlock()
	if ok && time.Since(m.loaded) < metaTTL {
		return m, nil
	}
	m, err := b.loadMeta(ctx, b.DB, sessionID)
	if err != nil {
		return m, err
	}
	b.metaMu.Lock()
	if b.metas == nil || len(b.metas) > 50_000 {
		b.metas = map[int64]sessionMeta{}
	}
	b.metas[sessionID] = m
	b.metaMu.Unlock()
	return m, nil
}

type queryer interface {
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

// metaSelect reads sessionMeta (scanMeta) for sessions joined with their program.
const metaSelect = `SELECT s.id, s.program_id, s.starts_at, s.ends_at, s.booking_opens_at, s.status,
	p.kind, p.title, p.fee_fen, p.requires_approval, p.min_age_months, p.max_age_months, p.status
	FROM sessions s JOIN programs p ON p.id = s.program_id`

func scanMeta(row models.RowScanner) (sessionMeta, error) {
	var m sessionMeta
	var minAge, maxAge sql.NullInt64
	var pstatus string
	if err := row.Scan(&m.SessionID, &m.ProgramID, &m.StartsAt, &m.EndsAt, &m.OpensAt, &m.Status,
		&m.Kind, &m.Title, &m.FeeFen, &m.RequiresApproval, &minAge, &maxAge, &pstatus); err != nil {
		return m, err
	}
	if minAge.Valid {
		v := int(minAge.Int64)
		m.MinAge = &v
	}
	if maxAge.Valid {
		v := int(maxAge.Int64)
		m.MaxAge = &v
	}
	m.ProgramActive = pstatus == "active"
	m.loaded = time.Now()
	return m, nil
}

func (b *Bookings) loadMeta(ctx context.Context, q queryer, sessionID int64) (sessionMeta, error) {
	m, err := scanMeta(q.QueryRowContext(ctx, metaSelect+` WHERE s.id = ?`, sessionID))
	if errors.Is(err, sql.ErrNoRows) {
		return m, models.ErrNotFound
	}
	if err != nil {
		return m, fmt.Errorf("load session %d: %w", sessionID, err)
	}
	return m, nil
}

// forget drops cached knowledge of a session after a change on this instance.
func (b *Bookings) forget(sessionID, programID int64) {
	b.metaMu.Lock()
	delete(b.metas, sessionID)
	b.metaMu.Unlock()
	b.soldOut.Delete(sessionID)
	if b.Cache != nil {
		b.Cache.Invalidate(programID)
	}
}

// changed invalidates the catalogue after counts moved (booked, waitlisted).
func (b *Bookings) changed(programID int64) {
	if b.Cache != nil {
		b.Cache.Invalidate(programID)
	}
}

// KnownSoldOut reports a session this instance saw full moments ago (always false
// without the gate): such a booking will be refused without a round trip.
func (b *Bookings) KnownSoldOut(sessionID int64) bool {
	if !b.GateEnabled {
		return false
	}
	_, full := b.soldOutFor(sessionID, "")
	return full
}

// soldOutFor reports whether this instance saw the session full less than
// soldOutTTL ago and, if so, whether participant held a place then. It may refuse
// a little early after a place frees on another instance, never late: a booking
// it lets through still meets the gate and the guard. Within that same second a
// participant who took a freed place through another instance is, like the
// marker itself, a second behind.
func (b *Bookings) soldOutFor(sessionID int64, participant string) (held, full bool) {
	v, ok := b.soldOut.Load(sessionID)
	if !ok {
		return false, false
	}
	m := v.(*soldOutMark)
	if m.holders == nil || time.Now().UnixNano() >= m.until {
		return false, false
	}
	_, held = m.holders[participant]
	return held, true
}

// markSoldOut records that the session is full, with the gate's participants,
// read once per mark (soldOutTTL) by one request while the others keep going to
// the gate. Without the set (Redis failing) no mark is set: the gate answers.
func (b *Bookings) markSoldOut(ctx context.Context, programID, sessionID int64) {
	if !b.GateEnabled {
		return // BOOKING_GATE=false means every booking goes to the guard
	}
	now := time.Now().UnixNano()
	if v, ok := b.soldOut.Load(sessionID); ok && now < v.(*soldOutMark).until {
		return // marked, or being marked by another request
	}
	loading := &soldOutMark{until: now + int64(soldOutTTL)}
	if prev, loaded := b.soldOut.Swap(sessionID, loading); loaded && now < prev.(*soldOutMark).until {
		b.soldOut.CompareAndSwap(sessionID, loading, prev) // lost a race to another marker
		return
	}
	members, err := b.Gate.Members(ctx, programID, sessionID)
	if err != nil {
		b.soldOut.CompareAndDelete(sessionID, loading)
		return
	}
	holders := make(map[string]struct{}, len(members))
	for _, p := range members {
		holders[p] = struct{}{}
	}
	b.soldOut.CompareAndSwap(sessionID, loading, &soldOutMark{until: time.Now().Add(soldOutTTL).UnixNano(), holders: holders})
}

// bookable checks the session takes bookings now; a refusal before booking opens
// names the opening time in loc, the community's time zone.
func (m sessionMeta) bookable(now time.Time, loc *time.Location) error {
	if m.Status != catalog.SessionOpen || !m.ProgramActive || !now.Before(m.StartsAt) {
		return ErrBookingClosed
	}
	if m.OpensAt != nil && now.Before(*m.OpensAt) {
		return &models.Error{Kind: models.KindRule, Code: "booking_closed", Message: "预约尚未开始，开放时间 " + m.OpensAt.In(loc).Format("2006-01-02 15:04")}
	}
	return nil
}

// participantKey names who takes the place: the resident, or one of their
// children (qualified by the guardian, so another resident can never probe it).
func participantKey(userID int64, childID *int64) string {
	k := "u" + strconv.FormatInt(userID, 10)
	if childID != nil {
		k += "c" + strconv.FormatInt(*childID, 10)
	}
	return k
}

// Book books one session for the caller or their child. The order is chosen so a
// flash crowd costs as little as possible: cached session facts, then the local
// sold-out marker, then the Redis gate; only a request that got a place in the
// gate reaches MySQL, where the guard decides.
func (b *Bookings) Book(ctx context.Context, userID int64, in BookInput) (Booking, error) {
	m, err := b.meta(ctx, in.SessionID)
	if err != nil {
		return Booking{}, err
	}
	now := b.Now()
	if err := m.bookable(now, b.Loc); err != nil {
		return Booking{}, err
	}
	if m.Kind == catalog.KindChildcare && in.ChildID == nil {
		return Booking{}, NotEligible("托育预约必须选择一个孩子")
	}
	part := participantKey(userID, in.ChildID)
	if !in.Waitlist && b.GateEnabled {
		if held, full := b.soldOutFor(m.SessionID, part); held {
			return Booking{}, ErrAlreadyBooked
		} else if full {
			return Booking{}, ErrSessionFull
		}
	}
	res := GateSkipped
	if b.GateEnabled {
		if res, err = b.Gate.Take(ctx, m.ProgramID, m.SessionID, part); err != nil {
			return Booking{}, err
		}
	}
	switch res {
	case GateDuplicate:
		return Booking{}, ErrAlreadyBooked
	case GateClosed:
		return Booking{}, ErrBookingClosed
	case GateFull:
		b.markSoldOut(ctx, m.ProgramID, m.SessionID)
		if in.Waitlist {
			return b.joinWaitlist(ctx, userID, in, m, part)
		}
		return Booking{}, ErrSessionFull
	}
	bk, err := b.guard(ctx, userID, in, m, part)
	if err != nil {
		if res == GateTaken {
			b.Gate.Release(context.WithoutCancel(ctx), m.ProgramID, m.SessionID, part)
		}
		if errors.Is(err, ErrSessionFull) {
			b.markSoldOut(ctx, m.ProgramID, m.SessionID)
			if in.Waitlist {
				return b.joinWaitlist(ctx, userID, in, m, part)
			}
		}
		return Booking{}, err
	}
	b.changed(m.ProgramID)
	return bk, nil
}

// participant is who a booking is for, as the per-person rules need it.
type participant struct {
	suspended sql.NullTime
	birth     sql.NullTime
}

// loadParticipant reads the booker's ban and the participant's birth date (the
// caller's own, or their child's: another resident's child is ErrNotFound) inside
// the booking transaction.
func (b *Bookings) loadParticipant(ctx context.Context, tx *sql.Tx, userID int64, childID *int64) (participant, error) {
	var p participant
	err := tx.QueryRowContext(ctx, `SELECT suspended_until, birth_date FROM users WHERE id = ?`, userID).Scan(&p.suspended, &p.birth)
	if errors.Is(err, sql.ErrNoRows) {
		return p, models.ErrUnauthorized
	}
	if err != nil {
		return p, fmt.Errorf("load participant: %w", err)
	}
	if childID != nil {
		var cb time.Time
		err := tx.QueryRowContext(ctx, `SELECT birth_date FROM children WHERE id = ? AND user_id = ?`, *childID, userID).Scan(&cb)
		if errors.Is(err, sql.ErrNoRows) {
			return p, models.ErrNotFound
		}
		if err != nil {
			return p, fmt.Errorf("load child: %w", err)
		}
		p.birth = sql.NullTime{Time: cb, Valid: true}
	}
	return p, nil
}

// check applies the per-person rules to one session: the no-show ban, and the age
// band on the session's day in the community's time zone.
func (b *Bookings) check(p participant, m sessionMeta, now time.Time) error {
	if p.suspended.Valid && p.suspended.Time.After(now) {
		return &models.Error{Kind: models.KindForbidden, Code: "booking_suspended", Message: "爽约次数过多，暂停预约至 " + p.suspended.Time.In(b.Loc).Format("2006-01-02 15:04")}
	}
	if m.MinAge == nil && m.MaxAge == nil {
		return nil
	}
	if !p.birth.Valid {
		return NotEligible("该项目有年龄限制，请先在个人资料中填写出生日期")
	}
	age := models.AgeInMonths(models.DateOf(p.birth.Time), models.DateOf(m.StartsAt.In(b.Loc)))
	if (m.MinAge != nil && age < *m.MinAge) || (m.MaxAge != nil && age > *m.MaxAge) {
		return NotEligible(fmt.Sprintf("参与者在活动当天的年龄（%s）不在 %s 范围内", ageText(age), ageBand(m.MinAge, m.MaxAge)))
	}
	return nil
}

// checkParticipant is loadParticipant and check for a single session.
func (b *Bookings) checkParticipant(ctx context.Context, tx *sql.Tx, userID int64, childID *int64, m sessionMeta, now time.Time) error {
	p, err := b.loadParticipant(ctx, tx, userID, childID)
	if err != nil {
		return err
	}
	return b.check(p, m, now)
}

// ageText says an age in months the way people do: months for a toddler, whole
// years from two on (30 个月, 35 岁).
func ageText(months int) string {
	if months >= 24 {
		return strconv.Itoa(months/12) + " 岁"
	}
	return strconv.Itoa(months) + " 个月"
}

// ageBand says a program's age limits the way the center would: 18–36 个月,
// 60 岁及以上, 5–12 岁 (years where every limit given is whole years from two
// on, else months).
func ageBand(min, max *int) string {
	years := true
	for _, v := range []*int{min, max} {
		if v != nil && (*v%12 != 0 || *v < 24) {
			years = false
		}
	}
	num, unit := func(m int) string { return strconv.Itoa(m) }, " 个月"
	if years {
		num, unit = func(m int) string { return strconv.Itoa(m / 12) }, " 岁"
	}
	switch {
	case min != nil && max != nil:
		return num(*min) + "–" + num(*max) + unit
	case min != nil:
		return num(*min) + unit + "及以上"
	case max != nil:
		return num(*max) + unit + "及以下"
	}
	return "不限"
}

// admit is the start of every new booking's transaction: a walk-in booked on
// their behalf is share-locked first (lockWalkIn: a merge into a WeChat account
// finishes before, or moves the booking after), then the participant is
// checked against the session's rules.
func (b *Bookings) admit(ctx context.Context, tx *sql.Tx, userID int64, in BookInput, m sessionMeta, now time.Time) error {
	if in.onBehalf {
		if err := lockWalkIn(ctx, tx, userID); err != nil {
			return err
		}
	}
	return b.checkParticipant(ctx, tx, userID, in.ChildID, m, now)
}

// guard is the MySQL side: the conditional UPDATE that can never take booked past
// capacity, and the insert whose unique key stops a second live booking of the
// same participant, in one short transaction.
func (b *Bookings) guard(ctx context.Context, userID int64, in BookInput, m sessionMeta, part string) (Booking, error) {
	var id int64
	status := b.placeStatus(m)
	err := b.tx(ctx, func(tx *sql.Tx) error {
		now := b.Now()
		if err := b.admit(ctx, tx, userID, in, m, now); err != nil {
			return err
		}
		if err := b.takeSeat(ctx, tx, m.SessionID, 1, now); err != nil {
			return heldOr(ctx, tx, err, part, m.SessionID)
		}
		var err error
		if id, err = b.insert(ctx, tx, userID, in.ChildID, m, part, status, now); err != nil {
			return err
		}
		return b.placed(ctx, tx, userID, id, m, status, now)
	})
	if err != nil {
		return Booking{}, err
	}
	bk, err := b.get(ctx, id)
	if err != nil {
		return Booking{}, err
	}
	return b.attachPayment(ctx, bk, m, part)
}

// takeSeat is the guard's UPDATE; when it matches nothing it says why.
func (b *Bookings) takeSeat(ctx context.Context, tx *sql.Tx, sessionID int64, n int, now time.Time) error {
	res, err := tx.ExecContext(ctx, `UPDATE sessions SET booked = booked + ?, updated_at = ?
		WHERE id = ? AND booked + ? <= capacity AND status = 'open' AND starts_at > ?`, n, now, sessionID, n, now)
	if err != nil {
		return fmt.Errorf("guard: %w", err)
	}
	if k, _ := res.RowsAffected(); k == 1 {
		return nil
	}
	var status string
	var starts time.Time
	err = tx.QueryRowContext(ctx, `SELECT status, starts_at FROM sessions WHERE id = ?`, sessionID).Scan(&status, &starts)
	if errors.Is(err, sql.ErrNoRows) {
		return models.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("guard check: %w", err)
	}
	if status != catalog.SessionOpen || !now.Before(starts) {
		return ErrBookingClosed
	}
	return ErrSessionFull
}

// heldOr turns a full session into already_booked when the participant holds a
// live booking of it (the guard's UPDATE fails on capacity before the insert
// would fail on the unique key): a resident who has a place is told so, never
// that the session is full. Any other error passes through.
func heldOr(ctx context.Context, tx *sql.Tx, err error, participant string, sessionID int64) error {
	if !errors.Is(err, ErrSessionFull) {
		return err
	}
	var held bool
	qerr := tx.QueryRowContext(ctx, `SELECT EXISTS(SELECT 1 FROM bookings WHERE session_id = ? AND live_participant = ?)`, sessionID, participant).Scan(&held)
	if qerr != nil {
		return fmt.Errorf("guard: held check: %w", qerr)
	}
	if held {
		return ErrAlreadyBooked
	}
	return err
}

// checkInCodeLen is the length of every check-in code (bookings.code is CHAR(10)).
const checkInCodeLen = 10

// newCode makes a check-in code: 10 characters from an alphabet without
// look-alikes (50 bits from crypto/rand), unguessable; uniqueness is the
// database's unique key, retried on the rare collision.
func newCode() string {
	const alphabet = "ABCDEFGHJKMNPQRSTUVWXYZ23456789" // 31 symbols, no 0/O/1/I/L
	b := make([]byte, checkInCodeLen)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Errorf("crypto/rand: %w", err))
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

func dupKey(err error, key string) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && me.Number == 1062 && strings.Contains(me.Message, key)
}

func (b *Bookings) insert(ctx context.Context, tx *sql.Tx, userID int64, childID *int64, m sessionMeta, part, status string, now time.Time) (int64, error) {
	for range 5 {
		res, err := tx.ExecContext(ctx, `INSERT INTO bookings (session_id, program_id, user_id, child_id, participant, live_participant, status, fee_fen, code, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, m.SessionID, m.ProgramID, userID, childID, part, part, status, m.FeeFen, newCode(), now, now)
		if dupKey(err, "uq_bookings_code") {
			continue
		}
		if models.IsDuplicate(err) {
			return 0, ErrAlreadyBooked
		}
		if err != nil {
			return 0, fmt.Errorf("insert booking: %w", err)
		}
		id, _ := res.LastInsertId()
		return id, nil
	}
	return 0, errors.New("insert booking: no unique code after 5 tries")
}

// placed does, in the new booking's transaction, what its status asks for: a
// booking awaiting payment gets its order (placed at WeChat Pay), a confirmed
// one its confirmation message; pending and waitlisted ones nothing yet. Both
// ways into a place (the guard and the waiting list that finds a seat free)
// end with it.
func (b *Bookings) placed(ctx context.Context, tx *sql.Tx, userID, id int64, m sessionMeta, status string, now time.Time) error {
	switch status {
	case BookingAwaitingPayment:
		_, err := b.openOrder(ctx, tx, userID, []sessionMeta{m}, []int64{id}, now)
		return err
	case BookingConfirmed:
		return b.notify(ctx, tx, userID, id, m, "booking_confirmed", "已确认")
	}
	return nil
}

// joinWaitlist puts the participant in line. It locks the session row, so if a
// place is in fact free (the gate was behind) the participant gets it instead.
func (b *Bookings) joinWaitlist(ctx context.Context, userID int64, in BookInput, m sessionMeta, part string) (Booking, error) {
	var id int64
	var gotPlace bool
	err := b.tx(ctx, func(tx *sql.Tx) error {
		now := b.Now()
		if err := b.admit(ctx, tx, userID, in, m, now); err != nil {
			return err
		}
		var capacity, booked int
		var status string
		var starts time.Time
		if err := tx.QueryRowContext(ctx, `SELECT capacity, booked, status, starts_at FROM sessions WHERE id = ? FOR UPDATE`, m.SessionID).
			Scan(&capacity, &booked, &status, &starts); err != nil {
			return fmt.Errorf("lock session: %w", err)
		}
		if status != catalog.SessionOpen || !now.Before(starts) {
			return ErrBookingClosed
		}
		st := BookingWaitlisted
		if booked < capacity {
			gotPlace = true
			st = b.placeStatus(m)
			if err := b.takeSeat(ctx, tx, m.SessionID, 1, now); err != nil {
				return err
			}
		} else if _, err := tx.ExecContext(ctx, `UPDATE sessions SET waitlisted = waitlisted + 1, updated_at = ? WHERE id = ?`, now, m.SessionID); err != nil {
			return fmt.Errorf("count waitlist: %w", err)
		}
		var err error
		if id, err = b.insert(ctx, tx, userID, in.ChildID, m, part, st, now); err != nil {
			return err
		}
		return b.placed(ctx, tx, userID, id, m, st, now)
	})
	if err != nil {
		return Booking{}, err
	}
	if gotPlace && b.GateEnabled {
		b.Gate.Swap(context.WithoutCancel(ctx), m.ProgramID, m.SessionID, "", part)
	}
	b.changed(m.ProgramID)
	bk, err := b.get(ctx, id)
	if err != nil {
		return Booking{}, err
	}
	return b.attachPayment(ctx, bk, m, part)
}

// notify writes the booking-result subscribe message into the outbox, inside tx.
func (b *Bookings) notify(ctx context.Context, tx *sql.Tx, userID, bookingID int64, m sessionMeta, event, word string) error {
	return models.EnqueueNotification(ctx, tx, b.Now, models.Notification{
		UserID:      userID,
		Event:       event,
		TemplateKey: models.TemplateBookingResult,
		Page:        "pages/bookings/detail?id=" + strconv.FormatInt(bookingID, 10),
		Data: map[string]string{
			"thing1":  m.Title,
			"time2":   m.StartsAt.In(b.Loc).Format("2006-01-02 15:04"),
			"phrase3": word,
		},
	})
}

// tx runs fn in a transaction, retrying a deadlock (the other side won; running
// again sees its result).
func (b *Bookings) tx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return models.InTxRetry(ctx, b.DB, fn)
}

// bookingColumns read one booking with its waiting-list position computed by a
// subquery; used where a single booking is read (and locked) inside a
// transaction. Lists use pageColumns and pagePositions instead.
const bookingColumns = `b.id, b.session_id, b.program_id, b.user_id, b.child_id, b.status, b.code, b.fee_fen, b.payment_status, b.order_id, b.late_cancel,
	b.reject_reason, b.checked_in_at, b.created_at, b.updated_at, b.participant, p.title, s.starts_at,
	(SELECT COUNT(*) FROM bookings w WHERE w.session_id = b.session_id AND w.status = 'waitlisted' AND w.id <= b.id)`

const bookingFrom = ` FROM bookings b JOIN sessions s ON s.id = b.session_id JOIN programs p ON p.id = b.program_id`

// pageColumns are bookingColumns without the position subquery: read for a page
// of bookings by id, with pagePositions filling in the positions after.
const pageColumns = `b.id, b.session_id, b.program_id, b.user_id, b.child_id, b.status, b.code, b.fee_fen, b.payment_status, b.order_id, b.late_cancel,
	b.reject_reason, b.checked_in_at, b.created_at, b.updated_at, b.participant, p.title, s.starts_at, 0`

func (b *Bookings) scan(row interface{ Scan(...any) error }) (Booking, error) {
	var x Booking
	var pos int
	err := row.Scan(&x.ID, &x.SessionID, &x.ProgramID, &x.UserID, &x.ChildID, &x.Status, &x.Code, &x.FeeFen, &x.PaymentStatus, &x.OrderID, &x.LateCancel,
		&x.RejectReason, &x.CheckedInAt, &x.CreatedAt, &x.UpdatedAt, &x.participant, &x.ProgramTitle, &x.StartsAt, &pos)
	if x.Status == BookingWaitlisted {
		x.WaitlistPosition = &pos
	}
	x.CreatedAt = models.InLoc(x.CreatedAt, b.Loc)
	x.UpdatedAt = models.InLoc(x.UpdatedAt, b.Loc)
	x.StartsAt = models.InLoc(x.StartsAt, b.Loc)
	if x.CheckedInAt != nil {
		t := models.InLoc(*x.CheckedInAt, b.Loc)
		x.CheckedInAt = &t
	}
	return x, err
}

func (b *Bookings) get(ctx context.Context, id int64) (Booking, error) {
	xs, err := b.getMany(ctx, []int64{id})
	if err != nil {
		return Booking{}, err
	}
	if len(xs) == 0 {
		return Booking{}, models.ErrNotFound
	}
	return xs[0], nil
}

// getMany reads bookings by id in one query, in id order, then their waiting-list
// positions in one more (pagePositions): two queries for a page, whatever its
// size, and none per row.
func (b *Bookings) getMany(ctx context.Context, ids []int64) ([]Booking, error) {
	if len(ids) == 0 {
		return []Booking{}, nil
	}
	in, args := idList(ids)
	rows, err := b.DB.QueryContext(ctx, `SELECT `+pageColumns+bookingFrom+` WHERE b.id IN `+in+` ORDER BY b.id`, args...)
	if err != nil {
		return nil, fmt.Errorf("get bookings: %w", err)
	}
	xs, err := models.ScanAll(rows, "scan booking", b.scan)
	if err != nil {
		return nil, err
	}
	if err := b.pagePositions(ctx, xs); err != nil {
		return nil, err
	}
	return xs, nil
}

// idList is "(?, ?, ...)" for ids and the matching arguments.
func idList(ids []int64) (string, []any) {
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	return "(?" + strings.Repeat(", ?", len(ids)-1) + ")", args
}

// pagePositions sets WaitlistPosition on the waitlisted bookings of xs: for each,
// how many of its session's waitlisted bookings are at or before it (the list
// is ordered by id). One grouped join over the page's waitlisted bookings, each
// side read through idx_bookings_session_status, instead of a subquery per row.
func (b *Bookings) pagePositions(ctx context.Context, xs []Booking) error {
	var waiting []int64
	at := map[int64]int{}
	for i, x := range xs {
		if x.Status == BookingWaitlisted {
			waiting = append(waiting, x.ID)
			at[x.ID] = i
		}
	}
	if len(waiting) == 0 {
		return nil
	}
	in, args := idList(waiting)
	rows, err := b.DB.QueryContext(ctx, `SELECT x.id, COUNT(*) FROM bookings x
		JOIN bookings w ON w.session_id = x.session_id AND w.status = 'waitlisted' AND w.id <= x.id
		WHERE x.id IN `+in+` AND x.status = 'waitlisted' GROUP BY x.id`, args...)
	if err != nil {
		return fmt.Errorf("waitlist positions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var pos int
		if err := rows.Scan(&id, &pos); err != nil {
			return fmt.Errorf("scan waitlist position: %w", err)
		}
		if i, ok := at[id]; ok {
			xs[i].WaitlistPosition = &pos
		}
	}
	return rows.Err()
}

// Get returns a booking to its owner, or to staff; anyone else gets ErrNotFound.
func (b *Bookings) Get(ctx context.Context, p models.Principal, id int64) (Booking, error) {
	x, err := b.get(ctx, id)
	if err != nil {
		return Booking{}, err
	}
	if x.UserID != p.UserID && !models.IsStaff(p.Role) {
		return Booking{}, models.ErrNotFound
	}
	return x, nil
}

// BookingFilter narrows a list.
type BookingFilter struct {
	UserID    int64 // 0: everyone's (staff)
	SessionID int64
	Status    string
	Page      models.Page
}

// List returns bookings by id, newest last, one page at a time. The page's ids
// are picked first, from bookings alone, so the index that matches the filter
// and the order serves it (PRIMARY with no filter, idx_bookings_status (status,
// id), idx_bookings_user (user_id, id), idx_bookings_session_status) and the
// scan stops after Limit rows; only those are then joined (getMany). One query
// with the joins let the optimizer start from programs and sort every booking.
// The index is named (FORCE INDEX): with status = ? AND id > ? MariaDB prefers
// ref access on the status alone, which reads every earlier booking of that
// status before the cursor (16k rows of 60k in the plan test) instead of
// starting at it.
func (b *Bookings) List(ctx context.Context, f BookingFilter) ([]Booking, error) {
	index := "PRIMARY"
	switch {
	case f.SessionID != 0:
		index = "idx_bookings_session_status" // (session_id, status, id)
	case f.UserID != 0:
		index = "idx_bookings_user" // (user_id, id)
	case f.Status != "":
		index = "idx_bookings_status" // (status, id)
	}
	where := []string{"b.id > ?"}
	args := []any{f.Page.AfterID}
	if f.UserID != 0 {
		where = append(where, "b.user_id = ?")
		args = append(args, f.UserID)
	}
	if f.SessionID != 0 {
		where = append(where, "b.session_id = ?")
		args = append(args, f.SessionID)
	}
	if f.Status != "" {
		where = append(where, "b.status = ?")
		args = append(args, f.Status)
	}
	args = append(args, f.Page.Limit)
	ids, err := models.QueryColumn[int64](ctx, b.DB, `SELECT b.id FROM bookings b FORCE INDEX (`+index+`) WHERE `+strings.Join(where, " AND ")+` ORDER BY b.id LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("list bookings: %w", err)
	}
	return b.getMany(ctx, ids)
}
