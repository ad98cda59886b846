package models

import (
	"context"
	"database/sql"
	"fmt"
)

// RowQuerier is what estate checks need: a *sql.DB or a *sql.Tx.
type RowQuerier interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}

// RequireEstate refuses, as a validation error on field, a name that is not one
// of the community's estates (the estates table, seeded by migration with the
// five of product.md). Free text there would split every by-estate figure
// (complaints, bins, reports) into spellings nobody can add up.
func RequireEstate(ctx context.Context, q RowQuerier, field, name string) error {
	var n int
	if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM estates WHERE name = ?`, name).Scan(&n); err != nil {
		return fmt.Errorf("check estate: %w", err)
	}
	if n == 0 {
		return Invalid(field, "不是本社区的小区（南天一花园、南天二花园、百花园一期、百花园二期、国城花园）")
	}
	return nil
}

// EstateNames lists the community's estates in their usual order, for filters
// and forms.
func EstateNames(ctx context.Context, db *sql.DB) ([]string, error) {
	names, err := QueryColumn[string](ctx, db, `SELECT name FROM estates ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list estates: %w", err)
	}
	return names, nil
}
