-- Who took a call and how long each part lasted: the IVR (started_at to
-- queued_at), the wait (queue_wait_ms), the conversation with the agent
-- (connected_at, talk_ms), and who hung up.
ALTER TABLE calls ADD COLUMN queued_at TEXT;
ALTER TABLE calls ADD COLUMN agent TEXT NOT NULL DEFAULT '';
ALTER TABLE calls ADD COLUMN connected_at TEXT;
ALTER TABLE calls ADD COLUMN talk_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE calls ADD COLUMN ended_by TEXT NOT NULL DEFAULT '';
CREATE INDEX calls_agent ON calls (agent, started_at) WHERE agent <> '';
