-- The order tables jst-sync writes: one row per order, its items and its payments.
-- Table names are templates (order_table, items_table, pays_table in double braces) filled
-- from the config. Column order and types must match `Mapping::default()` (a test checks it).
-- With `partition_by_month` the order table also gets `p_month` in its primary key and a
-- `PARTITION BY RANGE (p_month)` clause (templates order_partition_column, order_primary_key,
-- order_partitioning); without it they render as nothing / `id`, so the DDL is as it always was.
-- Text that Qimen sends free-form (names, places, messages) is MEDIUMTEXT, so no length the API
-- sends is refused; codes and statuses are VARCHAR wide enough that the
-- transform rejects, never truncates, anything longer. Money is DECIMAL(18,4). Times are
-- Beijing wall-clock DATETIME as the gateway sends them.
-- Key text columns use utf8mb4_bin so distinct ids never collide by case or accent.

CREATE TABLE IF NOT EXISTS `{{order_table}}` (
    id                  BIGINT        NOT NULL COMMENT 'o_id: Jushuitan internal order id',
    order_date          DATETIME      NULL COMMENT 'order_date (Beijing time)',
    shop_status         VARCHAR(64)   NULL COMMENT 'shop_status',
    question_type       MEDIUMTEXT    NULL COMMENT 'question_type',
    shop_id             BIGINT        NULL COMMENT 'shop_id',
    question_desc       MEDIUMTEXT    NULL COMMENT 'question_desc',
    so_id               VARCHAR(128)  CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL COMMENT 'so_id: online order number',
    status              VARCHAR(64)   NULL COMMENT 'status',
    receiver_state      MEDIUMTEXT    NULL COMMENT 'receiver_state',
    receiver_city       MEDIUMTEXT    NULL COMMENT 'receiver_city',
    receiver_district   MEDIUMTEXT    NULL COMMENT 'receiver_district',
    send_date           DATETIME      NULL COMMENT 'send_date (Beijing time)',
    plan_delivery_date  DATETIME      NULL COMMENT 'plan_delivery_date (Beijing time)',
    creator_name        MEDIUMTEXT    NULL COMMENT 'creator_name',
    buyer_tax_no        MEDIUMTEXT    NULL COMMENT 'buyer_tax_no',
    invoice_type        MEDIUMTEXT    NULL COMMENT 'invoice_type',
    pay_amount          DECIMAL(18,4) NULL COMMENT 'pay_amount',
    freight             DECIMAL(18,4) NULL COMMENT 'freight',
    buyer_message       MEDIUMTEXT    NULL COMMENT 'buyer_message',
    remark              MEDIUMTEXT    NULL COMMENT 'remark',
    invoice_title       MEDIUMTEXT    NULL COMMENT 'invoice_title',
    is_cod              TINYINT(1)    NULL COMMENT 'is_cod',
    type                MEDIUMTEXT    NULL COMMENT 'type',
    paid_amount         DECIMAL(18,4) NULL COMMENT 'paid_amount',
    pay_date            DATETIME      NULL COMMENT 'pay_date (Beijing time)',
    modified            DATETIME      NULL COMMENT 'modified (Beijing time)',
    order_from          MEDIUMTEXT    NULL COMMENT 'order_from',
    l_id                VARCHAR(1024) NULL COMMENT 'l_id: tracking number(s)',
    shop_name           MEDIUMTEXT    NULL COMMENT 'shop_name',
    wms_co_id           BIGINT        NULL COMMENT 'wms_co_id',
    logistics_company   MEDIUMTEXT    NULL COMMENT 'logistics_company',
    free_amount         DECIMAL(18,4) NULL COMMENT 'free_amount',
    co_id               BIGINT        NULL COMMENT 'co_id',
    pays_status         VARCHAR(64)   NULL COMMENT 'pays[main].status: main payment (is_order_pay, else first)',
    pays_outer_pay_id   MEDIUMTEXT    NULL COMMENT 'pays[main].outer_pay_id',
    pays_pay_date       DATETIME      NULL COMMENT 'pays[main].pay_date (Beijing time)',
    pays_amount         DECIMAL(18,4) NULL COMMENT 'pays[main].amount',
    pays_payment        MEDIUMTEXT    NULL COMMENT 'pays[main].payment',
    pays_buyer_account  MEDIUMTEXT    NULL COMMENT 'pays[main].buyer_account',
    pays_is_order_pay   TINYINT(1)    NULL COMMENT 'pays[main].is_order_pay',
    pays_pay_id         VARCHAR(64)   CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL COMMENT 'pays[main].pay_id',
    jst_ts              BIGINT        NULL COMMENT 'jst-sync: the order ts (row version) written',
    jst_version         BIGINT        NOT NULL COMMENT 'jst-sync: staging version id written',
    jst_synced_at       DATETIME(3)   NOT NULL COMMENT 'jst-sync: when written (Beijing time)',
{{order_partition_column}}    PRIMARY KEY ({{order_primary_key}}),
    KEY idx_modified (modified),
    KEY idx_order_date (order_date),
    KEY idx_pay_date (pay_date),
    KEY idx_shop_id (shop_id),
    KEY idx_status (status),
    KEY idx_so_id (so_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
  COMMENT='Jushuitan orders (jushuitan.order.list.query), one row per o_id, kept by jst-sync'{{order_partitioning}};

CREATE TABLE IF NOT EXISTS `{{items_table}}` (
    o_id                BIGINT        NOT NULL COMMENT 'o_id of the order',
    oi_id               BIGINT        NOT NULL COMMENT 'items[].oi_id',
    outer_oi_id         VARCHAR(255)  NULL COMMENT 'items[].outer_oi_id',
    sku_id              VARCHAR(255)  NULL COMMENT 'items[].sku_id',
    shop_sku_id         VARCHAR(255)  NULL COMMENT 'items[].shop_sku_id',
    i_id                VARCHAR(255)  NULL COMMENT 'items[].i_id',
    name                MEDIUMTEXT    NULL COMMENT 'items[].name',
    properties_value    MEDIUMTEXT    NULL COMMENT 'items[].properties_value',
    qty                 BIGINT        NULL COMMENT 'items[].qty',
    price               DECIMAL(18,4) NULL COMMENT 'items[].price',
    base_price          DECIMAL(18,4) NULL COMMENT 'items[].base_price',
    amount              DECIMAL(18,4) NULL COMMENT 'items[].amount',
    is_gift             TINYINT(1)    NULL COMMENT 'items[].is_gift',
    sku_type            VARCHAR(64)   NULL COMMENT 'items[].sku_type',
    refund_status       VARCHAR(64)   NULL COMMENT 'items[].refund_status',
    item_status         VARCHAR(64)   NULL COMMENT 'items[].item_status',
    jst_version         BIGINT        NOT NULL COMMENT 'jst-sync: staging version id written',
    jst_synced_at       DATETIME(3)   NOT NULL COMMENT 'jst-sync: when written (Beijing time)',
    PRIMARY KEY (o_id, oi_id),
    KEY idx_sku_id (sku_id),
    KEY idx_i_id (i_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
  COMMENT='Jushuitan order items, one row per (o_id, oi_id), kept by jst-sync';

CREATE TABLE IF NOT EXISTS `{{pays_table}}` (
    o_id                BIGINT        NOT NULL COMMENT 'o_id of the order',
    pay_id              VARCHAR(64)   CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL COMMENT 'pays[].pay_id',
    outer_pay_id        VARCHAR(255)  NULL COMMENT 'pays[].outer_pay_id',
    pay_date            DATETIME      NULL COMMENT 'pays[].pay_date (Beijing time)',
    amount              DECIMAL(18,4) NULL COMMENT 'pays[].amount',
    payment             VARCHAR(255)  NULL COMMENT 'pays[].payment',
    buyer_account       VARCHAR(255)  NULL COMMENT 'pays[].buyer_account',
    is_order_pay        TINYINT(1)    NULL COMMENT 'pays[].is_order_pay',
    status              VARCHAR(64)   NULL COMMENT 'pays[].status',
    jst_version         BIGINT        NOT NULL COMMENT 'jst-sync: staging version id written',
    jst_synced_at       DATETIME(3)   NOT NULL COMMENT 'jst-sync: when written (Beijing time)',
    PRIMARY KEY (o_id, pay_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
  COMMENT='Jushuitan order payments, one row per (o_id, pay_id), kept by jst-sync';
