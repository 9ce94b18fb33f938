-- Plain SQL (no goose annotations), as Flyway or psql runs it: the DO block
-- adds the column only when it is missing, so the migration can be re-run.
SET lock_timeout = '2s';

DO $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM information_schema.columns
        WHERE table_name = 'invoices' AND column_name = 'status'
    ) THEN
        ALTER TABLE invoices ADD COLUMN status text NOT NULL DEFAULT 'open';
        EXECUTE 'CREATE INDEX invoices_status_idx ON invoices (status)';
    END IF;
END
$$;

ANALYZE invoices;
