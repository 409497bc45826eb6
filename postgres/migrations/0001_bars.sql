-- Bars, coverage and the instrument metadata the bar store keeps: the
-- PostgreSQL form of the bolt package's figi/<FIGI>/{m,d,cov,fet,meta}
-- buckets, the catalogue and the published symbol names.
--
-- Times are timestamptz (stored as UTC microseconds; the store writes whole
-- minutes and whole UTC days only and reads them back in UTC). Prices and
-- volumes are double precision: IEEE-754 binary64, the same bits as Go's
-- float64 over pgx's binary protocol, so a closed bar comes back
-- bit-identical (numeric would round-trip decimal text, not bits).

-- One row per instrument the store has seen. Writers lock it (SELECT ...
-- FOR UPDATE) before touching the instrument's bars or ranges, so coverage
-- merges and conflict counts never interleave.
CREATE TABLE tvbridge_instruments (
    figi      text PRIMARY KEY,
    first_bar timestamptz -- the first-bar watermark; NULL while unknown
);

-- Closed 1-minute bars: immutable once written (first write wins).
CREATE TABLE tvbridge_minutes (
    figi   text             NOT NULL,
    t      timestamptz      NOT NULL, -- the minute's start
    open   double precision NOT NULL,
    high   double precision NOT NULL,
    low    double precision NOT NULL,
    close  double precision NOT NULL,
    volume double precision NOT NULL,
    PRIMARY KEY (figi, t)
);

-- Closed daily bars, at 00:00 UTC of the trading day.
CREATE TABLE tvbridge_daily (
    figi   text             NOT NULL,
    t      timestamptz      NOT NULL,
    open   double precision NOT NULL,
    high   double precision NOT NULL,
    low    double precision NOT NULL,
    close  double precision NOT NULL,
    volume double precision NOT NULL,
    PRIMARY KEY (figi, t)
);

-- Minutes known complete: disjoint, non-touching [from_t, to_t) ranges,
-- merged on write, so a day streamed live is one row.
CREATE TABLE tvbridge_coverage (
    figi   text        NOT NULL,
    from_t timestamptz NOT NULL,
    to_t   timestamptz NOT NULL,
    PRIMARY KEY (figi, from_t),
    CHECK (to_t > from_t)
);

-- Minutes fetched from REST ahead of the upstream's lag: known, not final.
-- Same shape and merge rule as tvbridge_coverage.
CREATE TABLE tvbridge_fetched (
    figi   text        NOT NULL,
    from_t timestamptz NOT NULL,
    to_t   timestamptz NOT NULL,
    PRIMARY KEY (figi, from_t),
    CHECK (to_t > from_t)
);

-- The last instrument catalogue the upstream gave: one row. The record is
-- json (not jsonb): json keeps the encoder's text exactly, jsonb would turn
-- -0 into 0 and refuse a "\u0000" inside a string. loaded is the
-- RFC 3339 text of the load time, to keep its nanoseconds.
CREATE TABLE tvbridge_catalogue (
    id          smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    instruments json NOT NULL,
    loaded      text NOT NULL
);

-- The TradingView symbol name published for each FIGI.
CREATE TABLE tvbridge_symbol_names (
    figi text PRIMARY KEY,
    name text NOT NULL
);
