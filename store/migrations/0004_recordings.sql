-- Call recordings and what the law asks to keep about them (see
-- recordings/README.md): the caller's answer to the recording notice, one
-- row per recording with its expiry and legal hold, the log of purged
-- recordings, and the audit of every access.

-- The caller's answer to the recording notice. Never updated: it is the
-- proof of what the caller chose.
CREATE TABLE consents (
	id           TEXT PRIMARY KEY,
	call_id      TEXT NOT NULL CHECK (call_id <> ''),
	caller       TEXT NOT NULL DEFAULT '',
	driver       TEXT NOT NULL DEFAULT '',
	at           TEXT NOT NULL,
	language     TEXT NOT NULL DEFAULT '',
	flow         TEXT NOT NULL DEFAULT '',
	flow_version TEXT NOT NULL DEFAULT '',
	node         TEXT NOT NULL DEFAULT '',
	prompt       TEXT NOT NULL DEFAULT '',
	choice       TEXT NOT NULL CHECK (choice IN ('accepted', 'refused')),
	key          TEXT NOT NULL DEFAULT '',
	-- Only a refusal is made with a key; accepting is staying on the line.
	CHECK (choice = 'refused' OR key = '')
) STRICT;

CREATE INDEX consents_call_id ON consents (call_id, at);

CREATE TRIGGER consents_no_update BEFORE UPDATE ON consents
BEGIN
	SELECT RAISE(ABORT, 'consents are never updated');
END;

-- One row per recording. rel_path is relative to the recordings folder and
-- never leaves the server: the API names recordings by id.
CREATE TABLE recordings (
	id           TEXT PRIMARY KEY,
	call_id      TEXT    NOT NULL CHECK (call_id <> ''),
	caller       TEXT    NOT NULL DEFAULT '',
	dialled      TEXT    NOT NULL DEFAULT '',
	driver       TEXT    NOT NULL DEFAULT '',
	flow         TEXT    NOT NULL DEFAULT '',
	flow_version TEXT    NOT NULL DEFAULT '',
	node         TEXT    NOT NULL DEFAULT '',
	queue        TEXT    NOT NULL DEFAULT '',
	consent_id   TEXT    NOT NULL REFERENCES consents (id),
	started_at   TEXT    NOT NULL,
	ended_at     TEXT,
	duration_ms  INTEGER NOT NULL DEFAULT 0 CHECK (duration_ms >= 0),
	size         INTEGER NOT NULL DEFAULT 0 CHECK (size >= 0),
	sha256       TEXT    NOT NULL DEFAULT '' CHECK (sha256 = '' OR length(sha256) = 64),
	rel_path     TEXT    NOT NULL UNIQUE
		CHECK (rel_path <> '' AND substr(rel_path, 1, 1) <> '/' AND instr(rel_path, '..') = 0),
	encrypted    INTEGER NOT NULL DEFAULT 0 CHECK (encrypted IN (0, 1)),
	state        TEXT    NOT NULL DEFAULT 'recording'
		CHECK (state IN ('recording', 'complete', 'recovered', 'damaged')),
	pauses       TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(pauses) AND json_type(pauses) = 'array'),
	expires_at   TEXT    NOT NULL CHECK (expires_at > started_at),
	hold_by      TEXT,
	hold_reason  TEXT,
	hold_at      TEXT,
	-- A hold says who placed it and when, or is absent altogether.
	CHECK ((hold_by IS NULL) = (hold_at IS NULL) AND (hold_by IS NULL) = (hold_reason IS NULL)),
	CHECK (hold_by IS NULL OR hold_by <> ''),
	-- A finished recording has its end and its checksum.
	CHECK (state NOT IN ('complete', 'recovered') OR (ended_at IS NOT NULL AND sha256 <> ''))
) STRICT;

-- The purge reads the expired recordings in expiry order and skips held
-- ones and ones still being written.
CREATE INDEX recordings_purge ON recordings (expires_at, id)
	WHERE hold_by IS NULL;
-- Start-up recovery finds the recordings a crash left open.
CREATE INDEX recordings_open ON recordings (started_at) WHERE state = 'recording';
CREATE INDEX recordings_call_id ON recordings (call_id, started_at);
CREATE INDEX recordings_caller ON recordings (caller, started_at);
CREATE INDEX recordings_started_at ON recordings (started_at);
CREATE INDEX recordings_held ON recordings (hold_at) WHERE hold_by IS NOT NULL;

-- One row per purged recording: what went, and when. The recording's row is
-- deleted in the same transaction, so a recording is logged at most once.
CREATE TABLE purge_log (
	id           INTEGER PRIMARY KEY,
	recording_id TEXT NOT NULL UNIQUE,
	call_id      TEXT NOT NULL,
	sha256       TEXT NOT NULL DEFAULT '',
	purged_at    TEXT NOT NULL,
	reason       TEXT NOT NULL CHECK (reason IN ('expired')),
	expired_at   TEXT NOT NULL
) STRICT;

CREATE INDEX purge_log_purged_at ON purge_log (purged_at);

CREATE TRIGGER purge_log_no_update BEFORE UPDATE ON purge_log
BEGIN
	SELECT RAISE(ABORT, 'the purge log is never updated');
END;

-- Every access to recordings, allowed or not: who, what, when, from where.
CREATE TABLE access_audit (
	id           INTEGER PRIMARY KEY,
	at           TEXT NOT NULL,
	user         TEXT NOT NULL DEFAULT '',
	role         TEXT NOT NULL DEFAULT '',
	action       TEXT NOT NULL CHECK (action <> ''),
	recording_id TEXT NOT NULL DEFAULT '',
	call_id      TEXT NOT NULL DEFAULT '',
	remote       TEXT NOT NULL DEFAULT '',
	outcome      TEXT NOT NULL CHECK (outcome IN ('ok', 'denied', 'unauthenticated', 'not_found', 'error')),
	detail       TEXT NOT NULL DEFAULT ''
) STRICT;

CREATE INDEX access_audit_at ON access_audit (at);
CREATE INDEX access_audit_user ON access_audit (user, at);
CREATE INDEX access_audit_recording ON access_audit (recording_id, at) WHERE recording_id <> '';

CREATE TRIGGER access_audit_no_update BEFORE UPDATE ON access_audit
BEGIN
	SELECT RAISE(ABORT, 'the access audit is never updated');
END;
