-- +goose Up
ALTER TABLE customers ADD COLUMN phone text;
ALTER TABLE customers ADD COLUMN marketing_opt_in boolean NOT NULL DEFAULT false;

-- +goose Down
ALTER TABLE customers DROP COLUMN marketing_opt_in;
ALTER TABLE customers DROP COLUMN phone;
