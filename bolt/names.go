package bolt

import (
	"context"
	"fmt"

	bbolt "go.etcd.io/bbolt"
)

// bucketNames maps FIGI -> the TradingView symbol name published for it.
// TradingView forbids renaming a symbol, so names once published are kept
// even when a later instrument would have claimed the same name.
var bucketNames = []byte("names")

// SymbolNames returns the names published so far, by FIGI.
func (s *Store) SymbolNames(ctx context.Context) (map[string]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	names := make(map[string]string)
	err := s.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketNames)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			names[string(k)] = string(v)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("bolt: read symbol names: %w", err)
	}
	return names, nil
}

// PutSymbolNames records published names, durably. Names already recorded
// for a FIGI are overwritten with the given ones.
func (s *Store) PutSymbolNames(ctx context.Context, names map[string]string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := s.db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketNames)
		if err != nil {
			return err
		}
		for figi, name := range names {
			if string(b.Get([]byte(figi))) == name {
				continue
			}
			if err := b.Put([]byte(figi), []byte(name)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("bolt: write symbol names: %w", err)
	}
	return nil
}
