-- What an IVR flow learnt about a call (keys, collected digits, variables), as a JSON object.
ALTER TABLE cdr ADD COLUMN variables TEXT NOT NULL DEFAULT '{}';

-- The ACD's queue log, one row per event with Asterisk's event names (ENTERQUEUE, CONNECT,
-- RINGNOANSWER, ABANDON, ...): reports and live monitors are computed from it. `data` holds
-- the event's extra fields in Asterisk's order, as a JSON array.
CREATE TABLE queue_log (
    id INTEGER PRIMARY KEY,
    time REAL NOT NULL,
    event TEXT NOT NULL,
    queue TEXT NOT NULL,
    call TEXT NOT NULL,
    agent TEXT NOT NULL,
    wait_s REAL NOT NULL,
    talk_s REAL NOT NULL,
    data TEXT NOT NULL
);

CREATE INDEX queue_log_time ON queue_log (time);
CREATE INDEX queue_log_queue ON queue_log (queue, time);
