-- Fingerprints for staleness and content checks, and decimals as wide as the API sends them.
--
-- The order table gets two bookkeeping columns: `jst_modified`, the written version's
-- `modified` (staleness without `ts` is decided by it, not by staging ids that restart when a
-- staging file is restored), and `jst_sha256`, the SHA-256 of the staged JSON the row was
-- written from (`verify` compares content against it). Rows written before this migration keep
-- `jst_sha256` NULL until they are written again: a row without a fingerprint is one the next
-- push re-enqueues from staging (the migrator also clears the fingerprints of every row when it
-- re-adds or widens a column, and leaves a refill mark in `jst_schema_migrations`, version 0,
-- so the push knows to look).
--
-- Money becomes DECIMAL(20,6) (was DECIMAL(18,4)) and `items.qty` DECIMAL(20,6) (was BIGINT):
-- the Qimen field table types `qty` as decimal, and amounts with more than four decimals are
-- valid. Widening keeps every stored value. A statement that fails because its column already
-- exists (the migration was interrupted and runs again) counts as applied.

ALTER TABLE `{{order_table}}`
    ADD COLUMN jst_modified DATETIME NULL COMMENT 'jst-sync: the modified of the version written (Beijing time)' AFTER jst_synced_at,
    ADD COLUMN jst_sha256 CHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL COMMENT 'jst-sync: SHA-256 of the staged JSON written (NULL: to be written again)' AFTER jst_modified;

UPDATE `{{order_table}}` SET jst_modified = modified WHERE jst_modified IS NULL;

ALTER TABLE `{{order_table}}`
    MODIFY COLUMN pay_amount   DECIMAL(20,6) NULL COMMENT 'pay_amount',
    MODIFY COLUMN freight      DECIMAL(20,6) NULL COMMENT 'freight',
    MODIFY COLUMN paid_amount  DECIMAL(20,6) NULL COMMENT 'paid_amount',
    MODIFY COLUMN free_amount  DECIMAL(20,6) NULL COMMENT 'free_amount',
    MODIFY COLUMN pays_amount  DECIMAL(20,6) NULL COMMENT 'pays[main].amount';

ALTER TABLE `{{items_table}}`
    MODIFY COLUMN qty          DECIMAL(20,6) NULL COMMENT 'items[].qty (decimal in the Qimen field table)',
    MODIFY COLUMN price        DECIMAL(20,6) NULL COMMENT 'items[].price',
    MODIFY COLUMN base_price   DECIMAL(20,6) NULL COMMENT 'items[].base_price',
    MODIFY COLUMN amount       DECIMAL(20,6) NULL COMMENT 'items[].amount';

ALTER TABLE `{{pays_table}}`
    MODIFY COLUMN amount       DECIMAL(20,6) NULL COMMENT 'pays[].amount';
