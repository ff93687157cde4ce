-- The top Via's sent-by of each binding's REGISTER: with the source address and the Contact it
-- tells, after a restart too, whether the phone is behind NAT (calls/nat.py). Rows from before
-- have '' and 0, and are reached where their REGISTER came from, as they were then.
ALTER TABLE registration ADD COLUMN via_host TEXT NOT NULL DEFAULT '';
ALTER TABLE registration ADD COLUMN via_port INTEGER NOT NULL DEFAULT 0;
