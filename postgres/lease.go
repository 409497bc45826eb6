package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// ErrLeaseLost is returned by Renew when the lease expired or another holder
// took it: the caller must stop acting as the holder at once.
var ErrLeaseLost = errors.New("lease lost")

// ErrFenced is returned by a fenced write whose lease epoch is no longer the
// current one, or whose lease expired: another node may be the holder now,
// so nothing was written.
var ErrFenced = errors.New("fenced: the lease is no longer held at this epoch")

// Leases are named, expiring leases with fencing tokens, one row each in
// tvbridge_leases (name, holder, epoch, expires_at). The ingester lease says
// which node holds the upstream.
//
// Why a row and not a session advisory lock (pg_try_advisory_lock): an
// advisory lock gives no token. A node that holds it and pauses (GC, VM
// freeze, SIGSTOP) keeps its session, so it still holds the lock when it
// wakes, or, when its session died meanwhile, it cannot tell, and it writes
// as if it were still the leader. Here the epoch, the fencing token, lives
// in the same database as the writes it guards: every fenced write checks
// it inside its own transaction (Fence, tvbridge_check_fence), under a
// share lock on the lease row, so a write either commits before a takeover
// or is refused with ErrFenced after it, however long its process was
// paused. Expiry is judged by the database's clock (clock_timestamp()) in
// every statement, never by a node's, so clock skew between nodes cannot
// make two of them believe they hold the lease.
//
// Acquire takes a free or expired lease and bumps its epoch; the holder
// calling Acquire or Renew before expiry keeps its epoch. A holder should
// renew well within the TTL (every TTL/3, say) and stop acting as the
// holder when Renew fails or a renewal did not succeed before the expiry
// it last obtained, measured from before it sent that renewal.
type Leases struct{ db *DB }

// Leases returns the lease API of db.
func (db *DB) Leases() *Leases { return &Leases{db: db} }

// Fence is the token a lease holder passes to its writes: they succeed only
// while lease Name is held at Epoch and not expired.
type Fence struct {
	Name  string
	Epoch int64
}

// acquireLockTimeout bounds how long Acquire waits for the lease row: a
// fenced write in progress holds a share lock on it, and a process paused
// inside such a write holds it until idle_in_transaction_session_timeout.
const acquireLockTimeout = 2 * time.Second

// Acquire takes lease name for holder for ttl. It succeeds when the lease is
// free, expired, or already held by holder: a holder renewing an unexpired
// lease keeps its epoch; any other acquisition bumps it. ok is false (and
// err nil) when another holder has it.
func (l *Leases) Acquire(ctx context.Context, name, holder string, ttl time.Duration) (epoch int64, ok bool, err error) {
	if err := validateLease(name, holder, ttl); err != nil {
		return 0, false, err
	}
	tx, err := l.db.pool.Begin(ctx)
	if err != nil {
		return 0, false, fmt.Errorf("postgres: acquire lease %s: %w", name, err)
	}
	defer rollback(tx)
	if _, err := tx.Exec(ctx, fmt.Sprintf(`SET LOCAL lock_timeout = %d`, acquireLockTimeout.Milliseconds())); err != nil {
		return 0, false, fmt.Errorf("postgres: acquire lease %s: %w", name, err)
	}
	// ON CONFLICT DO UPDATE locks the row and evaluates WHERE on its latest
	// version, so of concurrent callers exactly one finds it free.
	err = tx.QueryRow(ctx, `
		INSERT INTO tvbridge_leases AS l (name, holder, epoch, expires_at)
		VALUES ($1, $2, 1, clock_timestamp() + $3 * interval '1 microsecond')
		ON CONFLICT (name) DO UPDATE SET
			holder = excluded.holder,
			epoch = CASE WHEN l.holder = excluded.holder AND l.expires_at > clock_timestamp()
				THEN l.epoch ELSE l.epoch + 1 END,
			expires_at = excluded.expires_at
		WHERE l.expires_at <= clock_timestamp() OR l.holder = excluded.holder
		RETURNING epoch`, name, holder, ttl.Microseconds()).Scan(&epoch)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return 0, false, nil
	case isLockTimeout(err):
		l.db.log.Debug("lease row busy", "lease", name, "holder", holder)
		return 0, false, nil
	case err != nil:
		return 0, false, fmt.Errorf("postgres: acquire lease %s: %w", name, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, false, fmt.Errorf("postgres: acquire lease %s: %w", name, err)
	}
	return epoch, true, nil
}

// Renew extends holder's lease at epoch to ttl from now (the database's
// now). It fails with ErrLeaseLost when the lease expired, even if nobody
// took it since, or is held by another holder or at another epoch.
func (l *Leases) Renew(ctx context.Context, name, holder string, epoch int64, ttl time.Duration) error {
	if err := validateLease(name, holder, ttl); err != nil {
		return err
	}
	tag, err := l.db.pool.Exec(ctx, `
		UPDATE tvbridge_leases SET expires_at = clock_timestamp() + $4 * interval '1 microsecond'
		WHERE name = $1 AND holder = $2 AND epoch = $3 AND expires_at > clock_timestamp()`,
		name, holder, epoch, ttl.Microseconds())
	if err != nil {
		return fmt.Errorf("postgres: renew lease %s: %w", name, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: renew lease %s for %s at epoch %d: %w", name, holder, epoch, ErrLeaseLost)
	}
	return nil
}

// Release gives the lease up at once (it expires now), so another node need
// not wait for the TTL. Releasing a lease one does not hold at epoch is a
// no-op. The epoch stays, so the next holder's is higher.
func (l *Leases) Release(ctx context.Context, name, holder string, epoch int64) error {
	_, err := l.db.pool.Exec(ctx, `
		UPDATE tvbridge_leases SET expires_at = clock_timestamp()
		WHERE name = $1 AND holder = $2 AND epoch = $3 AND expires_at > clock_timestamp()`, name, holder, epoch)
	if err != nil {
		return fmt.Errorf("postgres: release lease %s: %w", name, err)
	}
	return nil
}

// Holder reports the lease's last holder, epoch and expiry (in UTC); the
// lease is free when expires is not after the database's now. A lease never
// taken has holder "" and epoch 0.
func (l *Leases) Holder(ctx context.Context, name string) (holder string, epoch int64, expires time.Time, err error) {
	err = l.db.pool.QueryRow(ctx, `SELECT holder, epoch, expires_at FROM tvbridge_leases WHERE name = $1`, name).
		Scan(&holder, &epoch, &expires)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", 0, time.Time{}, nil
	}
	if err != nil {
		return "", 0, time.Time{}, fmt.Errorf("postgres: lease %s: %w", name, err)
	}
	return holder, epoch, expires.UTC(), nil
}

// Check returns nil when the lease of f is held at f.Epoch and not expired,
// and an error wrapping ErrFenced otherwise. Fenced writes make this check
// in their own transaction; Check is for a holder that wants to know.
func (l *Leases) Check(ctx context.Context, f Fence) error {
	_, err := l.db.pool.Exec(ctx, `SELECT tvbridge_check_fence($1, $2)`, f.Name, f.Epoch)
	if err != nil {
		return fmt.Errorf("postgres: check lease %s: %w", f.Name, mapErr(err))
	}
	return nil
}

func validateLease(name, holder string, ttl time.Duration) error {
	if name == "" || holder == "" {
		return fmt.Errorf("postgres: lease: %w: name and holder must not be empty", ErrInvalid)
	}
	if ttl < time.Millisecond {
		return fmt.Errorf("postgres: lease %s: %w: ttl %v is below 1ms", name, ErrInvalid, ttl)
	}
	return nil
}

func isLockTimeout(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "55P03"
}
