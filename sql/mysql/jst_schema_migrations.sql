-- The record of applied migrations; created by the migrator before it applies any numbered file.
CREATE TABLE IF NOT EXISTS jst_schema_migrations (
    version     INT          NOT NULL PRIMARY KEY COMMENT 'migration number (file prefix)',
    name        VARCHAR(255) NOT NULL COMMENT 'migration file name',
    applied_at  DATETIME(3)  NOT NULL COMMENT 'when it was applied (server time)'
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
  COMMENT='jst-sync: applied schema migrations';
