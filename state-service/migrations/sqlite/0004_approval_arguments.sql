-- The exact tool call an approval holds: the canonical JSON arguments whose SHA-256 is
-- args_digest (NULL when the filter did not send them, e.g. longer than 4096 bytes), shown to
-- the human who decides. Only approvals keep arguments; events never do.

ALTER TABLE approvals ADD COLUMN arguments TEXT;
