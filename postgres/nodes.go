package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Nodes is the cluster's node directory, one row per node in
// tvbridge_nodes (node_id, url, instance, started_at, heartbeat_at): the
// URL at which the other nodes reach a node's API, and when the node last
// said it was alive, by the database's clock.
//
// It is how a node finds the owner of a lease (the trading owner, say) to
// forward requests to it: a lease holder id is NodeID#nonce (see
// cluster.Elector), HolderNode maps it to the node id, and LeaseOwner does
// both lookups in one statement, judging the lease's expiry by the
// database's clock.
type Nodes struct{ db *DB }

// Nodes returns the node directory of db.
func (db *DB) Nodes() *Nodes { return &Nodes{db: db} }

// Node is one row of the directory.
type Node struct {
	ID       string
	URL      string
	Instance string    // the registering process, e.g. its elector's holder id
	Started  time.Time // first registration of this instance (database clock, UTC)
	// Heartbeat is the last registration (database clock, UTC); Age is how
	// long ago it was, by the database's clock when the row was read.
	Heartbeat time.Time
	Age       time.Duration
}

// LeaseOwner is a lease's holder and the node directory's entry for it.
type LeaseOwner struct {
	Lease  string
	Holder string // NodeID#nonce; "" when the lease was never taken
	NodeID string // HolderNode(Holder)
	Epoch  int64
	// Live is true when the lease is unexpired by the database's clock.
	Live    bool
	Expires time.Time // database clock, UTC
	// URL is the holder node's registered URL; "" when it has none.
	URL string
	// Instance is the holder node's registered instance: when it differs
	// from Holder, the node registered from another process (a restart
	// under the same node id) and URL may not be the holder's.
	Instance string
}

// HolderNode returns the node id of a lease holder id NodeID#nonce: what
// precedes the last '#' (the whole id when it has none).
func HolderNode(holder string) string {
	if i := strings.LastIndexByte(holder, '#'); i >= 0 {
		return holder[:i]
	}
	return holder
}

// Register adds node id with its URL, or updates them, and sets its
// heartbeat to now (database clock). It is also the heartbeat: call it
// periodically. instance names the registering process; a new instance
// restarts Started.
func (n *Nodes) Register(ctx context.Context, id, url, instance string) error {
	if id == "" || url == "" {
		return fmt.Errorf("postgres: register node: %w: node id and url must not be empty", ErrInvalid)
	}
	_, err := n.db.pool.Exec(ctx, `INSERT INTO tvbridge_nodes AS n (node_id, url, instance) VALUES ($1, $2, $3)
		ON CONFLICT (node_id) DO UPDATE SET url = excluded.url, instance = excluded.instance,
			heartbeat_at = clock_timestamp(),
			started_at = CASE WHEN n.instance = excluded.instance THEN n.started_at ELSE clock_timestamp() END`,
		id, url, instance)
	if err != nil {
		return fmt.Errorf("postgres: register node %s: %w", id, err)
	}
	return nil
}

// Remove deletes node id's row if instance registered it last (so that a
// process shutting down does not remove the row of its successor).
func (n *Nodes) Remove(ctx context.Context, id, instance string) error {
	_, err := n.db.pool.Exec(ctx, `DELETE FROM tvbridge_nodes WHERE node_id = $1 AND instance = $2`, id, instance)
	if err != nil {
		return fmt.Errorf("postgres: remove node %s: %w", id, err)
	}
	return nil
}

const nodeColumns = `node_id, url, instance, started_at, heartbeat_at, clock_timestamp() - heartbeat_at`

func scanNode(row pgx.Row) (Node, error) {
	var nd Node
	err := row.Scan(&nd.ID, &nd.URL, &nd.Instance, &nd.Started, &nd.Heartbeat, &nd.Age)
	nd.Started, nd.Heartbeat = nd.Started.UTC(), nd.Heartbeat.UTC()
	return nd, err
}

// Lookup returns node id's row; ok is false when it is not registered.
func (n *Nodes) Lookup(ctx context.Context, id string) (Node, bool, error) {
	nd, err := scanNode(n.db.pool.QueryRow(ctx, `SELECT `+nodeColumns+` FROM tvbridge_nodes WHERE node_id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Node{}, false, nil
	}
	if err != nil {
		return Node{}, false, fmt.Errorf("postgres: look up node %s: %w", id, err)
	}
	return nd, true, nil
}

// List returns every registered node, by id.
func (n *Nodes) List(ctx context.Context) ([]Node, error) {
	rows, _ := n.db.pool.Query(ctx, `SELECT `+nodeColumns+` FROM tvbridge_nodes ORDER BY node_id COLLATE "C"`)
	defer rows.Close()
	var out []Node
	for rows.Next() {
		nd, err := scanNode(rows)
		if err != nil {
			return nil, fmt.Errorf("postgres: list nodes: %w", err)
		}
		out = append(out, nd)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: list nodes: %w", err)
	}
	return out, nil
}

// LeaseOwner reads lease's holder, epoch and liveness (database clock) and
// the holder node's registered URL, in one statement. A lease never taken
// gives a zero LeaseOwner (Holder "", Live false) and no error.
func (n *Nodes) LeaseOwner(ctx context.Context, lease string) (LeaseOwner, error) {
	o := LeaseOwner{Lease: lease}
	var url, instance *string
	err := n.db.pool.QueryRow(ctx, `SELECT l.holder, l.epoch, l.expires_at > clock_timestamp(), l.expires_at, n.url, n.instance
		FROM tvbridge_leases l
		LEFT JOIN tvbridge_nodes n ON n.node_id = regexp_replace(l.holder, '#[^#]*$', '')
		WHERE l.name = $1`, lease).Scan(&o.Holder, &o.Epoch, &o.Live, &o.Expires, &url, &instance)
	if errors.Is(err, pgx.ErrNoRows) {
		return o, nil
	}
	if err != nil {
		return LeaseOwner{Lease: lease}, fmt.Errorf("postgres: owner of lease %s: %w", lease, err)
	}
	o.NodeID, o.Expires = HolderNode(o.Holder), o.Expires.UTC()
	if url != nil {
		o.URL = *url
	}
	if instance != nil {
		o.Instance = *instance
	}
	return o, nil
}
