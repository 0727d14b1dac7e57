-- 001: the foundation.  monitord records hard state changes; incidentd turns
-- them into incidents and notifications.  The rules live in the functions of
-- func/ (func/monitord.sql, func/ingest.sql, func/notify.sql), so that
-- incidentd and incidentctl share them.

-- The latest hard state of every check, one row per (host, check).
CREATE TABLE current_state (
	host        text NOT NULL,
	check_name  text NOT NULL,
	check_kind  text NOT NULL,
	segment     text NOT NULL,
	state       text NOT NULL,
	output      text NOT NULL DEFAULT '',
	since       timestamptz NOT NULL,
	source      text NOT NULL,
	source_seq  bigint NOT NULL,
	updated_at  timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (host, check_name)
);

-- The outbox from monitord: one row per hard state change, in commit order.
-- (source, source_seq) makes a replay after a crash or outage idempotent.
CREATE TABLE state_event (
	id          bigserial PRIMARY KEY,
	source      text NOT NULL,
	source_seq  bigint NOT NULL,
	host        text NOT NULL,
	check_name  text NOT NULL,
	check_kind  text NOT NULL,
	segment     text NOT NULL,
	old_state   text NOT NULL,
	new_state   text NOT NULL,
	output      text NOT NULL DEFAULT '',
	observed_at timestamptz NOT NULL,
	received_at timestamptz NOT NULL DEFAULT now(),
	UNIQUE (source, source_seq),
	CHECK (new_state IN ('OK', 'WARNING', 'CRITICAL', 'UNKNOWN')),
	CHECK (old_state IN ('OK', 'WARNING', 'CRITICAL', 'UNKNOWN', 'PENDING'))
);

-- An incident: one fault, from detection on.  Phases beyond detection come
-- with the lifecycle; status says whether the fault itself is still there.
CREATE TABLE incident (
	id               bigserial PRIMARY KEY,
	ref              text GENERATED ALWAYS AS
	                     ('INC-' || lpad(id::text, 6, '0')) STORED,
	dedup_key        text NOT NULL,
	host             text NOT NULL,
	check_name       text NOT NULL,
	segment          text NOT NULL,
	status           text NOT NULL DEFAULT 'open'
	                     CHECK (status IN ('open', 'recovered')),
	phase            text NOT NULL DEFAULT 'detection',
	severity         text NOT NULL,
	summary          text NOT NULL,
	source           text NOT NULL,
	detected_at      timestamptz NOT NULL,
	opened_at        timestamptz NOT NULL DEFAULT now(),
	recovered_at     timestamptz,
	updated_at       timestamptz NOT NULL DEFAULT now(),
	open_event_id    bigint REFERENCES state_event (id),
	recover_event_id bigint REFERENCES state_event (id)
);

-- At most one open incident per fault key: a second detection of the same
-- fault (after a monitord restart, say) joins the open one.
CREATE UNIQUE INDEX incident_one_open_per_key
	ON incident (dedup_key) WHERE status = 'open';

CREATE INDEX incident_opened_at ON incident (opened_at);

-- Every change of an incident, append-only: the audit trail.
CREATE TABLE incident_transition (
	id          bigserial PRIMARY KEY,
	incident_id bigint NOT NULL REFERENCES incident (id),
	at          timestamptz NOT NULL DEFAULT now(),
	actor       text NOT NULL,
	from_status text,
	to_status   text NOT NULL,
	from_phase  text,
	to_phase    text NOT NULL,
	event_id    bigint REFERENCES state_event (id),
	reason      text NOT NULL DEFAULT ''
);

CREATE INDEX incident_transition_incident ON incident_transition (incident_id);

-- The notification outbox.  A row is written in the same transaction as the
-- incident change that causes it and is sent, retried and finally marked by
-- incidentd's sender.  facts is the snapshot the message is written from.
CREATE TABLE notification (
	id              bigserial PRIMARY KEY,
	incident_id     bigint NOT NULL REFERENCES incident (id),
	kind            text NOT NULL CHECK (kind IN ('opened', 'recovered')),
	channel         text NOT NULL DEFAULT 'email',
	recipient       text NOT NULL,
	recipient_name  text NOT NULL DEFAULT '',
	lang            text NOT NULL DEFAULT 'ja' CHECK (lang IN ('ja', 'en')),
	facts           jsonb NOT NULL,
	status          text NOT NULL DEFAULT 'pending'
	                    CHECK (status IN ('pending', 'sending', 'sent',
	                                      'failed')),
	attempts        integer NOT NULL DEFAULT 0,
	next_attempt_at timestamptz NOT NULL DEFAULT now(),
	lease_until     timestamptz,
	last_error      text,
	created_at      timestamptz NOT NULL DEFAULT now(),
	sent_at         timestamptz,
	UNIQUE (incident_id, kind, channel, recipient)
);

CREATE INDEX notification_due ON notification (next_attempt_at)
	WHERE status IN ('pending', 'sending');

-- How far each incidentd has read state_event.
CREATE TABLE incidentd_cursor (
	consumer      text PRIMARY KEY,
	last_event_id bigint NOT NULL DEFAULT 0,
	updated_at    timestamptz NOT NULL DEFAULT now()
);
