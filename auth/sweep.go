package auth

import (
	"encoding/binary"
	"fmt"
	"time"

	bbolt "go.etcd.io/bbolt"
)

// Sweep deletes what can no longer be used: expired or retired access
// tokens, expired refresh tokens and codes, tokens of revoked families,
// families left without tokens, and assertions past their exp. It returns
// how many records it deleted.
func (s *Store) Sweep(now time.Time) (removed int, err error) {
	err = s.update(func(tx *bbolt.Tx) error {
		live := map[string]bool{} // families that still have a usable token
		n, err := sweepAccess(tx, now, live)
		removed += n
		if err != nil {
			return err
		}
		if n, err = sweepRefresh(tx, now, live); err != nil {
			return err
		}
		removed += n
		if n, err = sweepExpiring(tx, bucketCodes, now, codeExpiry); err != nil {
			return err
		}
		removed += n
		if n, err = sweepExpiring(tx, bucketAssertions, now, assertionExpiry); err != nil {
			return err
		}
		removed += n
		n, err = deleteKeys(tx, bucketFamilies, func(k, _ []byte) (bool, error) { return !live[string(k)], nil })
		removed += n
		return err
	})
	if err != nil {
		return removed, fmt.Errorf("auth: sweep: %w", err)
	}
	return removed, nil
}

func sweepAccess(tx *bbolt.Tx, now time.Time, live map[string]bool) (int, error) {
	return deleteKeys(tx, bucketAccess, func(_, v []byte) (bool, error) {
		var acc accessRecord
		var f Family
		if err := decodeJSON(bucketAccess, v, &acc); err != nil {
			return false, err
		}
		found, err := getJSON(tx, bucketFamilies, []byte(acc.Family), &f)
		if err != nil {
			return false, err
		}
		dead := !found || now.Unix() >= acc.Expires || acc.Seq < f.MinSeq
		if !dead {
			live[acc.Family] = true
		}
		return dead, nil
	})
}

func sweepRefresh(tx *bbolt.Tx, now time.Time, live map[string]bool) (int, error) {
	return deleteKeys(tx, bucketRefresh, func(_, v []byte) (bool, error) {
		var rec refreshRecord
		if err := decodeJSON(bucketRefresh, v, &rec); err != nil {
			return false, err
		}
		exists := tx.Bucket(bucketFamilies).Get([]byte(rec.Family)) != nil
		dead := !exists || now.Unix() >= rec.Expires
		if !dead && !rec.Used {
			live[rec.Family] = true
		}
		return dead, nil
	})
}

func codeExpiry(v []byte) (int64, error) {
	var rec AuthCode
	err := decodeJSON(bucketCodes, v, &rec)
	return rec.Expires, err
}

func assertionExpiry(v []byte) (int64, error) {
	if len(v) != 8 {
		return 0, nil // damaged: expired long ago
	}
	return int64(binary.BigEndian.Uint64(v)), nil
}

func sweepExpiring(tx *bbolt.Tx, bucket []byte, now time.Time, expiry func([]byte) (int64, error)) (int, error) {
	return deleteKeys(tx, bucket, func(_, v []byte) (bool, error) {
		exp, err := expiry(v)
		return err == nil && now.Unix() >= exp, err
	})
}

// deleteKeys deletes the keys of bucket that dead selects. Keys are
// collected first: deleting under a running cursor can skip entries.
func deleteKeys(tx *bbolt.Tx, bucket []byte, dead func(k, v []byte) (bool, error)) (int, error) {
	b := tx.Bucket(bucket)
	var keys [][]byte
	err := b.ForEach(func(k, v []byte) error {
		d, err := dead(k, v)
		if d {
			keys = append(keys, append([]byte(nil), k...))
		}
		return err
	})
	if err != nil {
		return 0, err
	}
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return 0, fmt.Errorf("delete from %s: %w", bucket, err)
		}
	}
	return len(keys), nil
}
