-- +goose Up
-- With FILES_URL set, a document's file lives in that store under blob_key
-- and data is empty.
ALTER TABLE voyager_documents ADD COLUMN blob_key TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE voyager_documents DROP COLUMN blob_key;
