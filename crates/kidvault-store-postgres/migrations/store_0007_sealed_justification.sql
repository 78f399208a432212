-- What a staff member writes to break the glass may describe the child, so it
-- is sealed under the child's key (its data key wrapped beside it, bound to the
-- review's id): destroying the child's keys makes it unreadable in every copy
-- of this database, backups included. The plaintext column stays for reviews
-- written before this version: the server seals those at its next start and
-- empties the column.
ALTER TABLE access_reviews ADD COLUMN justification_epoch BIGINT;
ALTER TABLE access_reviews ADD COLUMN justification_key BYTEA;
ALTER TABLE access_reviews ADD COLUMN justification_sealed BYTEA;
