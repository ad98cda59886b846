package account

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"nantian/models"
)

// Child is a resident's child. Children are sensitive personal data under PIPL:
// they are created only with the guardian's consent (recorded with who and when)
// and are shown only to their guardian and to staff handling their booking.
type Child struct {
	ID               int64       `json:"id"`
	UserID           int64       `json:"-"`
	Name             string      `json:"name"`
	BirthDate        models.Date `json:"birth_date"`
	Gender           string      `json:"gender"`
	Allergies        string      `json:"allergies"`
	EmergencyContact string      `json:"emergency_contact"`
	GuardianConsent  bool        `json:"guardian_consent"`
	ConsentAt        time.Time   `json:"consent_at"`
	CreatedAt        time.Time   `json:"created_at"`
}

// ChildInput creates a child.
type ChildInput struct {
	Name             string       `json:"name" binding:"required,max=64"`
	BirthDate        *models.Date `json:"birth_date" binding:"required"`
	Gender           string       `json:"gender" binding:"omitempty,oneof=male female"`
	Allergies        string       `json:"allergies" binding:"max=500"`
	EmergencyContact string       `json:"emergency_contact" binding:"max=100"`
	GuardianConsent  *bool        `json:"guardian_consent" binding:"required"`
}

// ChildPatch changes a child; nil fields stay.
type ChildPatch struct {
	Name             *string      `json:"name" binding:"omitempty,min=1,max=64"`
	BirthDate        *models.Date `json:"birth_date"`
	Gender           *string      `json:"gender" binding:"omitempty,oneof=male female"`
	Allergies        *string      `json:"allergies" binding:"omitempty,max=500"`
	EmergencyContact *string      `json:"emergency_contact" binding:"omitempty,max=100"`
}

// Children stores children. Names are stored encrypted (Cipher, bound to the
// child's row); staff reads through GetAny are written to the audit log (Reads).
type Children struct {
	DB     *sql.DB
	Now    models.Clock
	Cipher *models.DataCipher
	Reads  *models.ChildReads
}

const childColumns = `id, user_id, name_enc, birth_date, gender, allergies_enc, emergency_contact_enc, consent_at, created_at`

// The child's name, allergies (health data) and emergency contact are sealed at
// rest, each bound to its row and column (DataCipher); these are the columns.
const (
	childName             = "name"
	childAllergies        = "allergies"
	childEmergencyContact = "emergency_contact"
)

func (s *Children) scanChild(row interface{ Scan(...any) error }) (Child, error) {
	var c Child
	var birth time.Time
	var name, allergies, contact []byte
	err := row.Scan(&c.ID, &c.UserID, &name, &birth, &c.Gender, &allergies, &contact, &c.ConsentAt, &c.CreatedAt)
	if err != nil {
		return c, err
	}
	c.BirthDate = models.DateOf(birth)
	c.GuardianConsent = true
	if c.Name, err = s.Cipher.Open("children", childName, c.ID, name); err != nil {
		return c, err
	}
	if c.Allergies, err = s.Cipher.Open("children", childAllergies, c.ID, allergies); err != nil {
		return c, err
	}
	c.EmergencyContact, err = s.Cipher.Open("children", childEmergencyContact, c.ID, contact)
	return c, err
}

// seal encrypts one of the child's sealed columns for row id, naming the column
// in the error.
func (s *Children) seal(id int64, column, plain string) ([]byte, error) {
	enc, err := s.Cipher.Seal("children", column, id, plain)
	if err != nil {
		return nil, fmt.Errorf("seal child %s: %w", column, err)
	}
	return enc, nil
}

// Create stores a child for its guardian, refusing without consent.
func (s *Children) Create(ctx context.Context, guardianID int64, in ChildInput) (Child, error) {
	if in.GuardianConsent == nil || !*in.GuardianConsent {
		return Child{}, models.Invalid("guardian_consent", "必须由监护人同意后才能保存儿童信息")
	}
	name := strings.TrimSpace(in.Name)
	if name == "" {
		return Child{}, models.Invalid("name", "不能为空")
	}
	now := s.Now()
	if err := models.CheckBirthDate("birth_date", in.BirthDate, now); err != nil {
		return Child{}, err
	}
	// The sealed columns are bound to the row's id, which exists only after the
	// insert: both happen in one transaction, so no row is ever visible without
	// its name.
	var id int64
	err := models.InTx(ctx, s.DB, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO children (user_id, birth_date, gender, consent_at, consent_by, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, guardianID, in.BirthDate.Time(), in.Gender, now, guardianID, now, now)
		if err != nil {
			return fmt.Errorf("insert child: %w", err)
		}
		id, _ = res.LastInsertId()
		var sealed [3][]byte
		for i, v := range [...]struct{ column, plain string }{
			{childName, name}, {childAllergies, in.Allergies}, {childEmergencyContact, in.EmergencyContact},
		} {
			if sealed[i], err = s.seal(id, v.column, v.plain); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE children SET name_enc = ?, allergies_enc = ?, emergency_contact_enc = ? WHERE id = ?`,
			sealed[0], sealed[1], sealed[2], id); err != nil {
			return fmt.Errorf("store child's sealed fields: %w", err)
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
	return models.ScanOne(s.DB.QueryRowContext(ctx, `SELECT `+childColumns+` FROM children WHERE id = ? AND user_id = ?`, id, guardianID), "get child", s.scanChild)
}

// GetAny returns a child regardless of guardian, for staff handling a booking.
// The read is written to the audit log (as the reader in ctx, see WithReader)
// before the child is returned; if it cannot be, the child is not returned.
func (s *Children) GetAny(ctx context.Context, id int64) (Child, error) {
	c, err := models.ScanOne(s.DB.QueryRowContext(ctx, `SELECT `+childColumns+` FROM children WHERE id = ?`, id), "get child", s.scanChild)
	if err != nil {
		return Child{}, err
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
	return models.ScanAll(rows, "scan child", s.scanChild)
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
			return Child{}, models.Invalid("name", "不能为空")
		}
		enc, err := s.seal(id, childName, n)
		if err != nil {
			return Child{}, err
		}
		add("name_enc", enc)
	}
	if p.BirthDate != nil {
		if err := models.CheckBirthDate("birth_date", p.BirthDate, s.Now()); err != nil {
			return Child{}, err
		}
		add("birth_date", p.BirthDate.Time())
	}
	if p.Gender != nil {
		add("gender", *p.Gender)
	}
	if p.Allergies != nil {
		enc, err := s.seal(id, childAllergies, *p.Allergies)
		if err != nil {
			return Child{}, err
		}
		add("allergies_enc", enc)
	}
	if p.EmergencyContact != nil {
		enc, err := s.seal(id, childEmergencyContact, *p.EmergencyContact)
		if err != nil {
			return Child{}, err
		}
		add("emergency_contact_enc", enc)
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
		return models.ErrNotFound
	}
	return nil
}
