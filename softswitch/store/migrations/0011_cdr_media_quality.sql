-- Media quality per leg and direction, taken as the call ends (media/quality.py). For the
-- caller's leg and the answered callee's: rx is what the switch received from that phone
-- (counted on its RTP socket), tx what the phone received from the switch (from its RTCP
-- receiver reports; NULL when it sent none). Loss in percent, RFC 3550 interarrival jitter in
-- ms, and the E-model MOS estimate (1..4.5).
ALTER TABLE cdr ADD COLUMN caller_rx_loss_pct REAL;
ALTER TABLE cdr ADD COLUMN caller_rx_jitter_ms REAL;
ALTER TABLE cdr ADD COLUMN caller_rx_mos REAL;
ALTER TABLE cdr ADD COLUMN caller_tx_loss_pct REAL;
ALTER TABLE cdr ADD COLUMN caller_tx_jitter_ms REAL;
ALTER TABLE cdr ADD COLUMN caller_tx_mos REAL;
ALTER TABLE cdr ADD COLUMN callee_rx_loss_pct REAL;
ALTER TABLE cdr ADD COLUMN callee_rx_jitter_ms REAL;
ALTER TABLE cdr ADD COLUMN callee_rx_mos REAL;
ALTER TABLE cdr ADD COLUMN callee_tx_loss_pct REAL;
ALTER TABLE cdr ADD COLUMN callee_tx_jitter_ms REAL;
ALTER TABLE cdr ADD COLUMN callee_tx_mos REAL;
