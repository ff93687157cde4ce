-- When each binding was last registered: after a restart, calls still go to the phone that
-- registered most recently, and the contact limit still evicts the oldest.
ALTER TABLE registration ADD COLUMN registered_at REAL NOT NULL DEFAULT 0;
