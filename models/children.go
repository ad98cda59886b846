package models

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Child is a resident's child. Children are sensitive personal data under PIPL:
// they are created only with the guardian's consent (recorded with who and when)
// and are shown only to their guardian and to staff handling their booking.
type Child struct {
	ID               int64     `json:"id"`
	UserID           int64     `json:"-"`
	Name             string    `json:"name"`
	BirthDate        Date      `json:"birth_date"`
	Gender           string    `json:"gender"`
	Allergies        string    `json:"allergies"`
	EmergencyContact string    `json:"emergency_contact"`
	GuardianConsent  bool      `json:"guardian_consent"`
	ConsentAt        time.Time `json:"consent_at"`
	CreatedAt        time.Time `json:"created_at"`
}

// ChildInput creates a child.
type ChildInput struct {
	Name             string `json:"name" binding:"required,max=64"`
	BirthDate        *Date  `json:"birth_date" binding:"required"`
	Gender           string `json:"gender" binding:"omitempty,oneof=male female"`
	Allergies        string `json:"allergies" binding:"max=500"`
	EmergencyContact string `json:"emergency_contact" binding:"max=100"`
	GuardianConsent  *bool  `json:"guardian_consent" binding:"required"`
}

// ChildPatch changes a child; nil fields stay.
type ChildPatch struct {
	Name             *string `json:"name" binding:"omitempty,min=1,max=64"`
	BirthDate        *Date   `json:"birth_date"`
	Gender           *string `json:"gender" binding:"omitempty,oneof=male female"`
	Allergies        *string `json:"allergies" binding:"omitempty,max=500"`
	EmergencyContact *string `json:"emergency_contact" binding:"omitempty,max=100"`
}

// Children stores children. Names are stored encrypted (Cipher, bound to the
// child's row); staff reads through GetAny are written to the audit log (Reads).
type Children struct {
	DB     *sql.DB
	Now    Clock
	Cipher *DataCipher
	Reads  *ChildReads
}

const childColumns = `id, user_id, name_enc, birth_date, gender, allergies, emergency_contact, consent_at, created_at`

func (s *Children) scanChild(row interface{ Scan(...any) error }) (Child, error) {
	var c Child
	var birth time.Time
	var name []byte
	err := row.Scan(&c.ID, &c.UserID, &name, &birth, &c.Gender, &c.Allergies, &c.EmergencyContact, &c.ConsentAt, &c.CreatedAt)
	if err != nil {
		return c, err
	}
	c.BirthDate = DateOf(birth)
	c.GuardianConsent = true
	c.Name, err = s.Cipher.Open("children", "name", c.ID, name)
	return c, err
}

// Create stores a child for its guardian, refusing without consent.
func (s *Children) Create(ctx context.Context, guardianID int64, in ChildInput) (Child, error) {
	if in.GuardianConsent == nil || !*in.GuardianConsent {
		return Child{}, Invalid("guardian_consent", "必须由监护人同意后才能保存儿童信息")
	}
	name := strings.TrimSpace(in.Name)
	if name == "" {
		return Child{}, Invalid("name", "不能为空")
	}
	now := s.Now()
	if in.BirthDate.Time().After(now) {
		return Child{}, Invalid("birth_date", "不能晚于今天")
	}
	// The name is sealed to the row's id, which exists only after the insert: both
	// happen in one transaction, so no row is ever visible without its name.
	var id int64
	err := inTx(ctx, s.DB, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO children (user_id, birth_date, gender, allergies, emergency_contact, consent_at, consent_by, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, guardianID, in.BirthDate.Time(), in.Gender, in.Allergies, in.EmergencyContact, now, guardianID, now, now)
		if err != nil {
			return fmt.Errorf("insert child: %w", err)
		}
		id, _ = res.LastInsertId()
		enc, err := s.Cipher.Seal("children", "name", id, name)
		if err != nil {
			return fmt.Errorf("seal child name: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE children SET name_enc = ? WHERE id = ?`, enc, id); err != nil {
			return fmt.Errorf("store child name: %w", err)
		}
		return nil
	})
	if err != nil {
		return Child{}, err
	}
	return s.Get(ctx, guardianID, id)
}

// Get returns the guardian's child; another resident's child is ErrNotFound.
func (s *Children) Get(ctx context.Context, guardianID, id int64) (Child, error) {
	c, err := s.scanChild(s.DB.QueryRowContext(ctx, `SELECT `+childColumns+` FROM children WHERE id = ? AND user_id = ?`, id, guardianID))
	if errors.Is(err, sql.ErrNoRows) {
		return Child{}, ErrNotFound
	}
	if err != nil {
		return Child{}, fmt.Errorf("get child: %w", err)
	}
	return c, nil
}

// GetAny returns a child regardless of guardian, for staff handling a booking.
// The read is written to the audit log (as the reader in ctx, see WithReader)
// before the child is returned; if it cannot be, the child is not returned.
func (s *Children) GetAny(ctx context.Context, id int64) (Child, error) {
	c, err := s.scanChild(s.DB.QueryRowContext(ctx, `SELECT `+childColumns+` FROM children WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Child{}, ErrNotFound
	}
	if err != nil {
		return Child{}, fmt.Errorf("get child: %w", err)
	}
	if err := s.Reads.Record(ctx, []int64{c.ID}); err != nil {
		return Child{}, err
	}
	return c, nil
}

// List returns the guardian's children.
func (s *Children) List(ctx context.Context, guardianID int64) ([]Child, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT `+childColumns+` FROM children WHERE user_id = ? ORDER BY id`, guardianID)
	if err != nil {
		return nil, fmt.Errorf("list children: %w", err)
	}
	return scanAll(rows, "scan child", s.scanChild)
}

// Update applies a patch to the guardian's child.
func (s *Children) Update(ctx context.Context, guardianID, id int64, p ChildPatch) (Child, error) {
	if _, err := s.Get(ctx, guardianID, id); err != nil {
		return Child{}, err
	}
	sets := []string{"updated_at = ?"}
	args := []any{s.Now()}
	add := func(col string, v any) { sets = append(sets, col+" = ?"); args = append(args, v) }
	if p.Name != nil {
		n := strings.TrimSpace(*p.Name)
		if n == "" {
			return Child{}, Invalid("name", "不能为空")
		}
		enc, err := s.Cipher.Seal("children", "name", id, n)
		if err != nil {
			return Child{}, fmt.Errorf("seal child name: %w", err)
		}
		add("name_enc", enc)
	}
	if p.BirthDate != nil {
		if p.BirthDate.Time().After(s.Now()) {
			return Child{}, Invalid("birth_date", "不能晚于今天")
		}
		add("birth_date", p.BirthDate.Time())
	}
	if p.Gender != nil {
		add("gender", *p.Gender)
	}
	if p.Allergies != nil {
		add("allergies", *p.Allergies)
	}
	if p.EmergencyContact != nil {
		add("emergency_contact", *p.EmergencyContact)
	}
	args = append(args, id, guardianID)
	if _, err := s.DB.ExecContext(ctx, `UPDATE children SET `+strings.Join(sets, ", ")+` WHERE id = ? AND user_id = ?`, args...); err != nil {
		return Child{}, fmt.Errorf("update child: %w", err)
	}
	return s.Get(ctx, guardianID, id)
}

// Delete erases the child's record on the guardian's request (PIPL). Bookings that
// named the child keep their counts but lose the link (the bookings table's foreign
// key sets it to NULL).
func (s *Children) Delete(ctx context.Context, guardianID, id int64) error {
	res, err := s.DB.ExecContext(ctx, `DELETE FROM children WHERE id = ? AND user_id = ?`, id, guardianID)
	if err != nil {
		return fmt.Errorf("delete child: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}
