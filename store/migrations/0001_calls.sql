-- The call log: one row per call, upserted as the call progresses.
CREATE TABLE calls (
	id           TEXT PRIMARY KEY,
	driver       TEXT NOT NULL DEFAULT '',
	caller       TEXT NOT NULL DEFAULT '',
	dialled      TEXT NOT NULL DEFAULT '',
	flow         TEXT NOT NULL DEFAULT '',
	flow_version TEXT NOT NULL DEFAULT '',
	language     TEXT NOT NULL DEFAULT '',
	started_at   TEXT NOT NULL,
	ended_at     TEXT,
	digits       TEXT NOT NULL DEFAULT '',
	outcome      TEXT NOT NULL DEFAULT '',
	queue        TEXT NOT NULL DEFAULT '',
	contact_id   TEXT NOT NULL DEFAULT '',
	queue_wait_ms INTEGER NOT NULL DEFAULT 0,
	vars         TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(vars)),
	error        TEXT NOT NULL DEFAULT ''
) STRICT;

CREATE INDEX calls_started_at ON calls (started_at);
CREATE INDEX calls_caller ON calls (caller, started_at);
CREATE INDEX calls_outcome ON calls (outcome, started_at);

-- The nodes a call went through, in order; rewritten with each save.
CREATE TABLE visits (
	call_id TEXT    NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
	seq     INTEGER NOT NULL,
	node    TEXT    NOT NULL,
	kind    TEXT    NOT NULL DEFAULT '',
	at      TEXT    NOT NULL,
	result  TEXT    NOT NULL DEFAULT '',
	PRIMARY KEY (call_id, seq)
) STRICT, WITHOUT ROWID;
