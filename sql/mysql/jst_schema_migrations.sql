-- The record of applied migrations; created by the migrator before it applies any numbered file.
-- One database may hold several sets of tables (one per merchant, by table prefix): `scope` is
-- the order table's name, so each set is migrated on its own.
CREATE TABLE IF NOT EXISTS jst_schema_migrations (
    scope       VARCHAR(64)  NOT NULL DEFAULT 'order_list_query' COMMENT 'the order table of the table set migrated',
    version     INT          NOT NULL COMMENT 'migration number (file prefix)',
    name        VARCHAR(255) NOT NULL COMMENT 'migration file name',
    applied_at  DATETIME(3)  NOT NULL COMMENT 'when it was applied (server time)',
    PRIMARY KEY (scope, version)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
  COMMENT='jst-sync: applied schema migrations';
