-- The agent who took a contact: an agent may reach the recordings of its
-- own calls only.
ALTER TABLE contacts ADD COLUMN agent TEXT NOT NULL DEFAULT '';
CREATE INDEX contacts_agent ON contacts (agent, call_id) WHERE agent <> '';
