package bolt

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	bbolt "go.etcd.io/bbolt"

	"tvbridge"
)

// bucketCatalogue keeps the last instrument catalogue the upstream gave, so
// that a start during an upstream outage can serve the symbols and their
// stored history at once.
var (
	bucketCatalogue = []byte("catalogue")
	keyInstruments  = []byte("instruments")
	keyLoaded       = []byte("loaded")
)

// PutCatalogue records the catalogue loaded from the upstream at loaded,
// replacing the previous one, durably.
func (s *Store) PutCatalogue(ctx context.Context, insts []tvbridge.Instrument, loaded time.Time) error {
	body, err := json.Marshal(insts)
	if err != nil {
		return fmt.Errorf("bolt: encode catalogue: %w", err)
	}
	stamp, err := loaded.UTC().MarshalText()
	if err != nil {
		return fmt.Errorf("bolt: encode catalogue time: %w", err)
	}
	err = s.update(ctx, func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketCatalogue)
		if err != nil {
			return err
		}
		if err := b.Put(keyInstruments, body); err != nil {
			return err
		}
		return b.Put(keyLoaded, stamp)
	})
	if err != nil {
		return fmt.Errorf("bolt: write catalogue: %w", err)
	}
	return nil
}

// Catalogue returns the last catalogue recorded and when it was loaded; ok
// is false when none was.
func (s *Store) Catalogue(ctx context.Context) (insts []tvbridge.Instrument, loaded time.Time, ok bool, err error) {
	err = s.view(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketCatalogue)
		if b == nil {
			return nil
		}
		body, stamp := b.Get(keyInstruments), b.Get(keyLoaded)
		if body == nil {
			return nil
		}
		if err := json.Unmarshal(body, &insts); err != nil {
			return fmt.Errorf("%w: catalogue: %w", ErrCorrupt, err)
		}
		if err := loaded.UnmarshalText(stamp); err != nil {
			return fmt.Errorf("%w: catalogue time: %w", ErrCorrupt, err)
		}
		ok = true
		return nil
	})
	if err != nil {
		return nil, time.Time{}, false, fmt.Errorf("bolt: read catalogue: %w", err)
	}
	return insts, loaded, ok, nil
}
