-- The node directory (see nodes.go): every node of a cluster registers the
-- URL other nodes reach its API at, and refreshes its heartbeat (the
-- database's clock). A lease holder id is node_id || '#' || nonce
-- (cluster.Elector), so the holder of a lease maps to a node, and to the
-- URL requests for the lease's owner are forwarded to.
CREATE TABLE tvbridge_nodes (
    node_id      text        PRIMARY KEY,
    url          text        NOT NULL,
    instance     text        NOT NULL DEFAULT '', -- the registering process (e.g. its elector's holder id)
    started_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    heartbeat_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
