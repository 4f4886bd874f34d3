-- Agents take contacts (see routing/README.md). The contacts table is
-- rebuilt, its rows and indexes kept, to admit the state 'transferred' (the
-- caller left for another queue or way) and to carry what screen-pops and
-- statistics need: the IVR path, how many offers were made, when the
-- conversation began and ended, how long it lasted and who ended it.
CREATE TABLE contacts_new (
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
		CHECK (state IN ('waiting', 'abandoned', 'timeout', 'connected', 'closed', 'transferred')),
	reason       TEXT    NOT NULL DEFAULT '',
	enqueued_at  TEXT    NOT NULL,
	left_at      TEXT,
	wait_ms      INTEGER,
	agent        TEXT    NOT NULL DEFAULT '',
	path         TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(path) AND json_type(path) = 'array'),
	offers       INTEGER NOT NULL DEFAULT 0 CHECK (offers >= 0),
	connected_at TEXT,
	ended_at     TEXT,
	talk_ms      INTEGER CHECK (talk_ms IS NULL OR talk_ms >= 0),
	ended_by     TEXT    NOT NULL DEFAULT ''
) STRICT;

-- Rows keep their order of arrival (rowid), the tie-break of equal waits.
-- Contacts connected before agents took them in ivrd ended there and then,
-- as far as ivrd knows: their talk time is unknown (null).
INSERT INTO contacts_new (id, channel, queue, call_id, caller, dialled, language, intent, priority,
		skills, vars, flow, flow_version, state, reason, enqueued_at, left_at, wait_ms, agent,
		connected_at, ended_at)
	SELECT id, channel, queue, call_id, caller, dialled, language, intent, priority,
		skills, vars, flow, flow_version, state, reason, enqueued_at, left_at, wait_ms, agent,
		CASE WHEN state = 'connected' THEN left_at END,
		CASE WHEN state = 'connected' THEN left_at END
	FROM contacts ORDER BY rowid;

DROP TABLE contacts;
ALTER TABLE contacts_new RENAME TO contacts;

-- Serves the waiting list in order: priority first, then arrival.
CREATE INDEX contacts_waiting ON contacts (queue, priority DESC, enqueued_at)
	WHERE state = 'waiting';
CREATE INDEX contacts_left_at ON contacts (queue, left_at);
CREATE INDEX contacts_call_id ON contacts (call_id) WHERE call_id <> '';
-- The agent who took a contact: an agent may reach the recordings of its
-- own calls only.
CREATE INDEX contacts_agent ON contacts (agent, call_id) WHERE agent <> '';
-- Statistics read the contacts that left, and the conversations that
-- ended, since a time, across queues.
CREATE INDEX contacts_left ON contacts (left_at) WHERE left_at IS NOT NULL;
CREATE INDEX contacts_ended ON contacts (ended_at) WHERE ended_at IS NOT NULL;

-- Every change of an agent's state, with the contact it concerns and why:
-- the audit supervisors read, and the source of occupancy reports. Never
-- updated.
CREATE TABLE agent_events (
	id         INTEGER PRIMARY KEY,
	agent      TEXT NOT NULL CHECK (agent <> ''),
	at         TEXT NOT NULL,
	state      TEXT NOT NULL
		CHECK (state IN ('signed_out', 'away', 'available', 'offered', 'busy', 'wrap_up')),
	contact_id TEXT NOT NULL DEFAULT '',
	reason     TEXT NOT NULL DEFAULT ''
) STRICT;

CREATE INDEX agent_events_agent ON agent_events (agent, at);
CREATE INDEX agent_events_at ON agent_events (at);
CREATE INDEX agent_events_contact ON agent_events (contact_id) WHERE contact_id <> '';

CREATE TRIGGER agent_events_no_update BEFORE UPDATE ON agent_events
BEGIN
	SELECT RAISE(ABORT, 'agent events are never updated');
END;
