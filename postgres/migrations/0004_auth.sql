-- The auth database (package auth's Backend; see auth.go): the same records
-- as the bbolt auth.db. No secret is stored in a usable form: passwords as
-- argon2id PHC strings, client secrets, tokens, codes and assertion keys as
-- SHA-256. Expiries are Unix seconds of the nodes' clocks (the Service's
-- clock), compared as bbolt's store compares them.

CREATE TABLE tvbridge_auth_users (
    login         text PRIMARY KEY,        -- normalized (lower case)
    password_hash text NOT NULL,           -- argon2id PHC string
    groups        text[],                  -- NULL: every group; {}: none
    created       timestamptz NOT NULL
);

CREATE TABLE tvbridge_auth_clients (
    id            text PRIMARY KEY,
    record        json NOT NULL,           -- auth.Client as encoding/json gives it
    secret_sha256 text NOT NULL            -- hex
);

-- A family is one login; its tokens point at it, and deleting it revokes
-- them all. Tokens of a deleted family are invalid and swept later.
CREATE TABLE tvbridge_auth_families (
    id        text PRIMARY KEY,
    login     text   NOT NULL,
    client_id text   NOT NULL DEFAULT '',  -- '': none (password logins)
    scheme    text   NOT NULL,
    session   text   NOT NULL DEFAULT '',  -- hex SHA-256 of the browser session cookie
    min_seq   bigint NOT NULL DEFAULT 0,   -- access tokens with a lower seq are retired
    next_seq  bigint NOT NULL DEFAULT 0    -- seq of the family's next access token
);
CREATE INDEX tvbridge_auth_families_login ON tvbridge_auth_families (login);
CREATE INDEX tvbridge_auth_families_client ON tvbridge_auth_families (client_id) WHERE client_id <> '';
CREATE INDEX tvbridge_auth_families_session ON tvbridge_auth_families (session) WHERE session <> '';

CREATE TABLE tvbridge_auth_access (
    token_sha256 bytea PRIMARY KEY,
    family_id    text   NOT NULL,
    seq          bigint NOT NULL,
    expires      bigint NOT NULL           -- Unix seconds
);
CREATE INDEX tvbridge_auth_access_family ON tvbridge_auth_access (family_id);

CREATE TABLE tvbridge_auth_refresh (
    token_sha256 bytea PRIMARY KEY,
    family_id    text    NOT NULL,
    expires      bigint  NOT NULL,
    used         boolean NOT NULL DEFAULT false -- rotated: presenting it again revokes the family
);
CREATE INDEX tvbridge_auth_refresh_family ON tvbridge_auth_refresh (family_id);

CREATE TABLE tvbridge_auth_codes (
    code_sha256 bytea PRIMARY KEY,
    client_id   text   NOT NULL,
    login       text   NOT NULL,
    redirect    text   NOT NULL,
    session     text   NOT NULL DEFAULT '',
    expires     bigint NOT NULL,
    family_id   text   NOT NULL DEFAULT '' -- set when redeemed; a second redemption revokes it
);

-- JWT assertions redeemed, kept until their exp to refuse a replay.
CREATE TABLE tvbridge_auth_assertions (
    key_sha256 bytea PRIMARY KEY,
    expires    bigint NOT NULL
);

-- Failed logins for the brute-force limits, counted by every node: one row
-- per (scope, key) with the window that opened at its first failure.
CREATE TABLE tvbridge_auth_failures (
    scope    text        NOT NULL,        -- 'login' or 'address'
    key      text        NOT NULL,
    first_at timestamptz NOT NULL,        -- the window's start
    count    integer     NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE INDEX tvbridge_auth_failures_first ON tvbridge_auth_failures (first_at);
