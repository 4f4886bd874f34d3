-- The shared omnichannel queue: every contact that waited for an agent, and
-- how its wait ended.
CREATE TABLE contacts (
	id           TEXT PRIMARY KEY,
	channel      TEXT    NOT NULL,
	queue        TEXT    NOT NULL,
	call_id      TEXT    NOT NULL DEFAULT '',
	caller       TEXT    NOT NULL DEFAULT '',
	dialled      TEXT    NOT NULL DEFAULT '',
	language     TEXT    NOT NULL DEFAULT '',
	intent       TEXT    NOT NULL DEFAULT '',
	priority     INTEGER NOT NULL DEFAULT 0,
	skills       TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(skills)),
	vars         TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(vars)),
	flow         TEXT    NOT NULL DEFAULT '',
	flow_version TEXT    NOT NULL DEFAULT '',
	state        TEXT    NOT NULL DEFAULT 'waiting'
		CHECK (state IN ('waiting', 'abandoned', 'timeout', 'connected', 'closed')),
	reason       TEXT    NOT NULL DEFAULT '',
	enqueued_at  TEXT    NOT NULL,
	left_at      TEXT,
	wait_ms      INTEGER
) STRICT;

-- Serves the waiting list in order: priority first, then arrival.
CREATE INDEX contacts_waiting ON contacts (queue, priority DESC, enqueued_at)
	WHERE state = 'waiting';
CREATE INDEX contacts_left_at ON contacts (queue, left_at);
CREATE INDEX contacts_call_id ON contacts (call_id) WHERE call_id <> '';
