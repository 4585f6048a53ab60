-- Upgrades a migrations record made before table sets had scopes (one set per database, always
-- the default names, as the command line could not name tables then): its rows belong to
-- `order_list_query`. Applied only when the `scope` column is missing.
ALTER TABLE jst_schema_migrations
    ADD COLUMN scope VARCHAR(64) NOT NULL DEFAULT 'order_list_query' COMMENT 'the order table of the table set migrated' FIRST,
    DROP PRIMARY KEY,
    ADD PRIMARY KEY (scope, version);
