-- The current version's `modified`, so the diff can tell a stale read from a change when the
-- gateway sends no `ts` row version.
ALTER TABLE current_orders ADD COLUMN modified TEXT;
