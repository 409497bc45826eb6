-- Cluster-wide settings a node creates once and every node then shares
-- (see settings.go): for example the T-Invest idempotency-key namespace,
-- which must be the same on whichever node owns trading.
CREATE TABLE tvbridge_settings (
    name       text        PRIMARY KEY,
    value      text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
