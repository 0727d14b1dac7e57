-- 013: the console's API.  Every endpoint of incidentd's JSON API but the
-- session ones is one call of api_call(actor, role, op, args), so that who
-- may see and do what is decided here, next to the data, by the same
-- functions incidentctl calls.  incidentd routes, checks the session and
-- the CSRF token, and maps the errors: LC001 refused (422), LC002 conflict
-- (409), LC003 not found (404), LC004 forbidden (403), LC005 a malformed
-- argument (400).

CREATE INDEX incident_active ON incident (detected_at)
	WHERE phase <> 'closed';

-- Every change made through the API, who made it and with what; the
-- functions it calls keep their own audit of what changed.  A refused
-- change leaves no row: it is rolled back with the rest.
CREATE TABLE api_change (
	id    bigserial PRIMARY KEY,
	at    timestamptz NOT NULL DEFAULT clock_timestamp(),
	actor text NOT NULL,
	role  text NOT NULL,
	op    text NOT NULL,
	args  jsonb NOT NULL
);
