-- Registrations survive a restart: phones need not re-register to be reachable again.
CREATE TABLE registration (
    aor TEXT NOT NULL,
    contact TEXT NOT NULL,
    transport TEXT NOT NULL,
    source_host TEXT NOT NULL,
    source_port INTEGER NOT NULL,
    expires_at REAL NOT NULL,
    call_id TEXT NOT NULL,
    cseq INTEGER NOT NULL,
    user_agent TEXT NOT NULL,
    PRIMARY KEY (aor, contact)
) WITHOUT ROWID;

CREATE INDEX registration_expires_at ON registration (expires_at);

-- One row per call attempt, inserted when the call starts so that a crash still leaves a trace.
CREATE TABLE cdr (
    id INTEGER PRIMARY KEY,
    call_id TEXT NOT NULL,
    caller TEXT NOT NULL,
    callee TEXT NOT NULL,
    direction TEXT NOT NULL
        CHECK (direction IN ('internal', 'inbound', 'outbound', 'transit')),
    trunk TEXT,
    start_ts REAL NOT NULL,
    answer_ts REAL,
    end_ts REAL,
    duration_s REAL,
    billable_s REAL,
    disposition TEXT CHECK (disposition IN (
        'answered', 'busy', 'no_answer', 'cancelled', 'failed', 'unknown_number')),
    hangup_cause TEXT,
    hangup_side TEXT CHECK (hangup_side IN ('caller', 'callee', 'switch'))
);

CREATE INDEX cdr_start_ts ON cdr (start_ts);
CREATE INDEX cdr_open ON cdr (id) WHERE end_ts IS NULL;
