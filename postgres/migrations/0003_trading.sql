-- The trading state (package trading's Store): records as the same JSON
-- encoding/json gives the bolt trading store, in json columns (exact text;
-- see 0001 for why not jsonb), plus the key columns. Nothing is deleted.
CREATE TABLE tvbridge_trading_meta (
    id  smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    seq bigint NOT NULL -- the highest id sequence ever committed
);

CREATE TABLE tvbridge_accounts (
    account_id text PRIMARY KEY,
    record     json NOT NULL
);

CREATE TABLE tvbridge_orders (
    account_id text   NOT NULL,
    order_id   text   NOT NULL,
    seq        bigint NOT NULL, -- creation sequence: Load lists orders by it
    record     json   NOT NULL,
    PRIMARY KEY (account_id, order_id)
);

CREATE TABLE tvbridge_positions (
    account_id text NOT NULL,
    figi       text NOT NULL,
    record     json NOT NULL,
    PRIMARY KEY (account_id, figi)
);

CREATE TABLE tvbridge_executions (
    account_id text   NOT NULL,
    seq        bigint NOT NULL,
    record     json   NOT NULL,
    PRIMARY KEY (account_id, seq)
);

-- requestId claims: the first node to insert (account, request) owns the
-- request; every other sees the order id it claimed for.
CREATE TABLE tvbridge_request_ids (
    account_id text        NOT NULL,
    request_id text        NOT NULL,
    order_id   text        NOT NULL,
    claimed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, request_id)
);
