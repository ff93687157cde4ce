-- Voicemail messages: one row per message file under <data dir>/voicemail/<box>/.
-- `event_code` is the key the caller pressed ('' when none) and `event` its configured name;
-- `state` is new, saved or deleted (a deleted message's file is removed, its row kept).
CREATE TABLE voicemail (
    id INTEGER PRIMARY KEY,
    box TEXT NOT NULL,
    time REAL NOT NULL,
    caller TEXT NOT NULL,
    event_code TEXT NOT NULL,
    event TEXT NOT NULL,
    duration_s REAL NOT NULL,
    path TEXT NOT NULL,
    call_id TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'new'
);

CREATE INDEX voicemail_box ON voicemail (box, state, time);
