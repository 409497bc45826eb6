package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"tvbridge"
)

// PutCatalogue records the catalogue loaded from the upstream at loaded,
// replacing the previous one. The instruments are stored as encoding/json
// gives them (the bolt store's encoding) and loaded as RFC 3339 text with
// its nanoseconds, so both read back exactly.
func (s *BarStore) PutCatalogue(ctx context.Context, insts []tvbridge.Instrument, loaded time.Time) error {
	body, err := json.Marshal(insts)
	if err != nil {
		return fmt.Errorf("postgres: encode catalogue: %w", err)
	}
	stamp, err := loaded.UTC().MarshalText()
	if err != nil {
		return fmt.Errorf("postgres: encode catalogue time: %w", err)
	}
	err = s.write(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO tvbridge_catalogue (id, instruments, loaded) VALUES (1, $1, $2)
			ON CONFLICT (id) DO UPDATE SET instruments = excluded.instruments, loaded = excluded.loaded`,
			string(body), string(stamp))
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: write catalogue: %w", err)
	}
	return nil
}

// Catalogue returns the last catalogue recorded and when it was loaded; ok
// is false when none was.
func (s *BarStore) Catalogue(ctx context.Context) (insts []tvbridge.Instrument, loaded time.Time, ok bool, err error) {
	if err := ctx.Err(); err != nil {
		return nil, time.Time{}, false, err
	}
	var body, stamp string
	err = s.db.pool.QueryRow(ctx, `SELECT instruments::text, loaded FROM tvbridge_catalogue WHERE id = 1`).Scan(&body, &stamp)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, time.Time{}, false, nil
	}
	if err != nil {
		return nil, time.Time{}, false, fmt.Errorf("postgres: read catalogue: %w", err)
	}
	if err := json.Unmarshal([]byte(body), &insts); err != nil {
		return nil, time.Time{}, false, fmt.Errorf("postgres: read catalogue: %w: %w", ErrCorrupt, err)
	}
	if err := loaded.UnmarshalText([]byte(stamp)); err != nil {
		return nil, time.Time{}, false, fmt.Errorf("postgres: read catalogue time: %w: %w", ErrCorrupt, err)
	}
	return insts, loaded, true, nil
}

// SymbolNames returns the names published so far, by FIGI.
func (s *BarStore) SymbolNames(ctx context.Context) (map[string]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rows, _ := s.db.pool.Query(ctx, `SELECT figi, name FROM tvbridge_symbol_names`)
	names := make(map[string]string)
	var figi, name string
	if _, err := pgx.ForEachRow(rows, []any{&figi, &name}, func() error { names[figi] = name; return nil }); err != nil {
		return nil, fmt.Errorf("postgres: read symbol names: %w", err)
	}
	return names, nil
}

// PutSymbolNames records published names. Names already recorded for a
// FIGI are overwritten with the given ones.
func (s *BarStore) PutSymbolNames(ctx context.Context, names map[string]string) error {
	figis := slices.Sorted(maps.Keys(names))
	vals := make([]string, len(figis))
	for i, f := range figis {
		vals[i] = names[f]
	}
	err := s.write(ctx, func(tx pgx.Tx) error {
		if len(figis) == 0 {
			return nil
		}
		_, err := tx.Exec(ctx, `INSERT INTO tvbridge_symbol_names AS n (figi, name)
			SELECT * FROM unnest($1::text[], $2::text[])
			ON CONFLICT (figi) DO UPDATE SET name = excluded.name WHERE n.name IS DISTINCT FROM excluded.name`, figis, vals)
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: write symbol names: %w", err)
	}
	return nil
}
