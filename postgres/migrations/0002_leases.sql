-- Leases with fencing (see lease.go). A lease is one row; its epoch is the
-- fencing token. Expiry is judged by the database's clock only.
CREATE TABLE tvbridge_leases (
    name       text PRIMARY KEY,
    holder     text        NOT NULL,
    epoch      bigint      NOT NULL CHECK (epoch > 0),
    expires_at timestamptz NOT NULL
);

-- tvbridge_check_fence raises SQLSTATE TVB01 unless the lease p_name is
-- held at epoch p_epoch and not expired. It takes a share lock on the lease
-- row, so a takeover (an UPDATE of the row) waits until the calling
-- transaction ends: a fenced write either commits before the next epoch
-- begins or is refused.
CREATE FUNCTION tvbridge_check_fence(p_name text, p_epoch bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    cur  bigint;
    live boolean;
BEGIN
    SELECT epoch, expires_at > clock_timestamp() INTO cur, live
    FROM tvbridge_leases WHERE name = p_name FOR SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'lease % is not held (fence epoch %)', p_name, p_epoch USING ERRCODE = 'TVB01';
    END IF;
    IF cur <> p_epoch THEN
        RAISE EXCEPTION 'lease % is at epoch %, not %', p_name, cur, p_epoch USING ERRCODE = 'TVB01';
    END IF;
    IF NOT live THEN
        RAISE EXCEPTION 'lease % epoch % expired', p_name, p_epoch USING ERRCODE = 'TVB01';
    END IF;
END
$$;
