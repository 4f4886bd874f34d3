-- Callback requests (see routing/README.md). A caller who would rather not
-- wait asks to be called back: the request is a contact of channel
-- 'callback' in contacts (its place in the queue, its context for the
-- agent), and a row here for what only a callback has: the number to call,
-- how and when, and how its attempts went. The two rows share the id and
-- are written in one transaction. No foreign key to contacts: a later
-- migration may rebuild that table, as 0006 did.
CREATE TABLE callbacks (
	id              TEXT PRIMARY KEY,
	number          TEXT    NOT NULL CHECK (number <> ''),
	queue           TEXT    NOT NULL,
	-- when the first attempt may be made at the earliest; null: at once
	not_before      TEXT,
	calendar        TEXT    NOT NULL DEFAULT '',
	flow            TEXT    NOT NULL DEFAULT '',
	node            TEXT    NOT NULL DEFAULT '',
	mode            TEXT    NOT NULL CHECK (mode IN ('agent_first', 'caller_first')),
	max_attempts    INTEGER NOT NULL CHECK (max_attempts >= 1),
	retry_delay_ms  INTEGER NOT NULL DEFAULT 0 CHECK (retry_delay_ms >= 0),
	-- the conversation is to be recorded (the node's record: true; the
	-- consent is in contacts.vars)
	record          INTEGER NOT NULL DEFAULT 0 CHECK (record IN (0, 1)),
	state           TEXT    NOT NULL DEFAULT 'pending'
		CHECK (state IN ('pending', 'active', 'completed', 'failed', 'cancelled')),
	attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
	-- when the next attempt may be made; null when none is due
	next_attempt    TEXT,
	requested_at    TEXT    NOT NULL,
	-- when the customer was told to expect the call
	expected_at     TEXT,
	-- completed: when the agent who talked to the customer took the
	-- request (the end of the time to callback)
	connected_at    TEXT,
	-- when it became completed, failed or cancelled
	completed_at    TEXT,
	last_result     TEXT    NOT NULL DEFAULT '',
	-- a cancellation asked while an attempt was in progress: the attempt
	-- goes on, no other follows
	cancel_reason   TEXT    NOT NULL DEFAULT '',
	-- the call in which the customer asked
	request_call_id TEXT    NOT NULL DEFAULT ''
) STRICT;

-- One open request per number and queue.
CREATE UNIQUE INDEX callbacks_open ON callbacks (number, queue) WHERE state IN ('pending', 'active');
-- The daily limit counts a number's requests of the last 24 hours.
CREATE INDEX callbacks_number ON callbacks (number, requested_at);
CREATE INDEX callbacks_state ON callbacks (state, requested_at);
-- Statistics read the requests made, and those that ended, since a time.
CREATE INDEX callbacks_requested ON callbacks (requested_at);
CREATE INDEX callbacks_completed ON callbacks (completed_at) WHERE completed_at IS NOT NULL;

-- Each call placed for a request: when, how it ended (completed, busy,
-- no_answer, rejected, failed, abandoned, timeout, interrupted), the
-- customer's call and the agent.
CREATE TABLE callback_attempts (
	callback_id TEXT    NOT NULL REFERENCES callbacks (id) ON DELETE CASCADE,
	attempt     INTEGER NOT NULL CHECK (attempt >= 1),
	started_at  TEXT    NOT NULL,
	ended_at    TEXT,
	result      TEXT    NOT NULL DEFAULT '',
	call_id     TEXT    NOT NULL DEFAULT '',
	agent       TEXT    NOT NULL DEFAULT '',
	PRIMARY KEY (callback_id, attempt)
) STRICT;

-- A callback offered to a caller by a flow, taken or not: the statistics'
-- callbacks offered.
CREATE TABLE callback_offers (
	id    INTEGER PRIMARY KEY,
	queue TEXT NOT NULL,
	at    TEXT NOT NULL
) STRICT;

CREATE INDEX callback_offers_at ON callback_offers (at, queue);
