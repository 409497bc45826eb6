-- The trading owner's tape mark (trading.TapeMarks, cluster mode): the
-- position in the JetStream market-data log through which held stops and
-- brackets were evaluated. A new trading owner replays the trades after it.
ALTER TABLE tvbridge_trading_meta ADD COLUMN tape_mark bigint;
