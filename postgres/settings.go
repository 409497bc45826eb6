package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Setting returns the cluster-wide value of name, storing the one init
// makes when there is none yet. Nodes asking at the same time all get the
// value stored first, whatever init gave them.
func (db *DB) Setting(ctx context.Context, name string, init func() (string, error)) (string, error) {
	var v string
	err := db.pool.QueryRow(ctx, `SELECT value FROM tvbridge_settings WHERE name = $1`, name).Scan(&v)
	switch {
	case err == nil:
		return v, nil
	case !errors.Is(err, pgx.ErrNoRows):
		return "", fmt.Errorf("postgres: setting %s: %w", name, err)
	}
	fresh, ierr := init()
	if ierr != nil {
		return "", fmt.Errorf("postgres: setting %s: %w", name, ierr)
	}
	if _, err := db.pool.Exec(ctx, `INSERT INTO tvbridge_settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`, name, fresh); err != nil {
		return "", fmt.Errorf("postgres: setting %s: %w", name, err)
	}
	if err := db.pool.QueryRow(ctx, `SELECT value FROM tvbridge_settings WHERE name = $1`, name).Scan(&v); err != nil {
		return "", fmt.Errorf("postgres: setting %s: %w", name, err)
	}
	return v, nil
}
