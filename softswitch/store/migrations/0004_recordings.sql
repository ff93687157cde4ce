-- One row per call recording, inserted when it starts (state 'recording') so that a crash leaves a
-- trace; the next start closes such rows as 'cut', with the duration the file holds. Linked to
-- the call's CDR by call_id (the inbound leg's Call-ID, as cdr.call_id).
CREATE TABLE recording (
    id INTEGER PRIMARY KEY,
    call_id TEXT NOT NULL,
    path TEXT NOT NULL UNIQUE,  -- relative to <data dir>/recordings/
    caller TEXT NOT NULL,
    callee TEXT NOT NULL,
    agent TEXT,  -- the agent's extension, when the call reached one
    layout TEXT NOT NULL CHECK (layout IN ('stereo', 'mix')),
    sample_rate INTEGER NOT NULL CHECK (sample_rate IN (8000, 16000)),
    start_ts REAL NOT NULL,
    end_ts REAL,
    duration_s REAL,  -- audio in the file
    state TEXT NOT NULL DEFAULT 'recording' CHECK (state IN ('recording', 'closed', 'cut')),
    pauses TEXT NOT NULL DEFAULT '[]',  -- JSON [[start_s, end_s], ...] into the file: silence
    left_talk_s REAL,  -- voice activity: the caller (a mix: anyone)
    right_talk_s REAL,  -- the other party (NULL for a mix)
    overtalk_s REAL,  -- both at once (NULL for a mix)
    silence_s REAL,
    longest_silence_s REAL,
    paused_s REAL
);

CREATE INDEX recording_call_id ON recording (call_id);
CREATE INDEX recording_start_ts ON recording (start_ts);
CREATE INDEX recording_open ON recording (id) WHERE state = 'recording';
