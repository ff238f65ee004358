-- The operational table whose rows become features. Debezium reads its changes from the write-ahead
-- log (wal_level=logical, plugin pgoutput); a delete removes the customer's features online.
CREATE TABLE IF NOT EXISTS customers (
  customer_id  integer PRIMARY KEY,
  plan         text,
  credit_limit numeric(12, 2),
  risk_flag    boolean NOT NULL DEFAULT false,
  renewed_at   timestamptz
);

INSERT INTO customers VALUES
  (1, 'free', 0.00, false, NULL),
  (2, 'pro', 2500.00, false, '2026-03-01T00:00:00Z'),
  (3, 'team', 12000.50, true, '2026-01-15T09:30:00Z')
ON CONFLICT (customer_id) DO NOTHING;
