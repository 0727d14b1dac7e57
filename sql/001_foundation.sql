-- 001: the foundation.  monitord records hard state changes; incidentd turns
-- them into incidents and notifications.  The rules live in the functions at
-- the end, so that incidentd and incidentctl share them.

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

CREATE FUNCTION forbid_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END
$$;
CREATE TRIGGER incident_transition_append_only
	BEFORE UPDATE OR DELETE ON incident_transition
	FOR EACH ROW EXECUTE FUNCTION forbid_change();

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

-- monitord: records one hard state change.  The advisory lock serialises
-- writers so that state_event ids become visible in commit order; without it
-- a reader past its cursor could miss an id that commits late.  Returns the
-- new event id, or NULL when (source, seq) was already recorded (a replay).
CREATE FUNCTION monitord_record_change(
	p_source text, p_seq bigint, p_host text, p_check text, p_kind text,
	p_segment text, p_old text, p_new text, p_output text,
	p_observed timestamptz)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	v_id bigint;
BEGIN
	PERFORM pg_advisory_xact_lock(hashtext('monitord.state_event'));
	INSERT INTO state_event (source, source_seq, host, check_name,
	    check_kind, segment, old_state, new_state, output, observed_at)
	VALUES (p_source, p_seq, p_host, p_check, p_kind, p_segment, p_old,
	    p_new, p_output, p_observed)
	ON CONFLICT (source, source_seq) DO NOTHING
	RETURNING id INTO v_id;
	IF v_id IS NULL THEN
		RETURN NULL;
	END IF;
	INSERT INTO current_state AS cs (host, check_name, check_kind, segment,
	    state, output, since, source, source_seq)
	VALUES (p_host, p_check, p_kind, p_segment, p_new, p_output,
	    p_observed, p_source, p_seq)
	ON CONFLICT (host, check_name) DO UPDATE
	SET check_kind = excluded.check_kind, segment = excluded.segment,
	    state = excluded.state, output = excluded.output,
	    since = excluded.since, source = excluded.source,
	    source_seq = excluded.source_seq, updated_at = now()
	WHERE cs.source <> excluded.source
	   OR cs.source_seq < excluded.source_seq;
	PERFORM pg_notify('state_event', v_id::text);
	RETURN v_id;
END
$$;

-- The facts a notification is written from, frozen when it is queued.
CREATE FUNCTION incident_facts(p_inc incident, p_ev state_event)
RETURNS jsonb LANGUAGE sql STABLE AS $$
	SELECT jsonb_build_object(
	    'incident_id', p_inc.id,
	    'ref', p_inc.ref,
	    'host', p_inc.host,
	    'check', p_inc.check_name,
	    'segment', p_inc.segment,
	    'severity', p_inc.severity,
	    'old_state', p_ev.old_state,
	    'state', p_ev.new_state,
	    'output', p_ev.output,
	    'source', p_ev.source,
	    'detected_at', p_inc.detected_at,
	    'recovered_at', p_inc.recovered_at,
	    'observed_at', p_ev.observed_at)
$$;

-- Queues one notification per recipient ({"email", "name", "lang"}).
-- Idempotent: a recipient gets each kind of message once per incident.
CREATE FUNCTION notification_queue(p_inc incident, p_ev state_event,
    p_kind text, p_recipients jsonb)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
	v_n integer;
BEGIN
	INSERT INTO notification (incident_id, kind, channel, recipient,
	    recipient_name, lang, facts)
	SELECT p_inc.id, p_kind, 'email', r->>'email',
	    coalesce(r->>'name', ''), coalesce(r->>'lang', 'ja'),
	    incident_facts(p_inc, p_ev)
	FROM jsonb_array_elements(coalesce(p_recipients, '[]'::jsonb)) AS r
	ON CONFLICT (incident_id, kind, channel, recipient) DO NOTHING;
	GET DIAGNOSTICS v_n = ROW_COUNT;
	RETURN v_n;
END
$$;

-- Applies one state change to the incidents: a hard non-OK state opens an
-- incident (or joins the open one for the same fault), OK recovers it.
-- Returns the number of notifications queued.
CREATE FUNCTION incident_apply_event(p_ev state_event, p_actor text,
    p_recipients jsonb)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
	v_key text := p_ev.host || '/' || p_ev.check_name;
	v_inc incident;
	v_n integer := 0;
BEGIN
	SELECT * INTO v_inc FROM incident
	WHERE dedup_key = v_key AND status = 'open' FOR UPDATE;

	IF p_ev.new_state <> 'OK' THEN
		IF NOT FOUND THEN
			INSERT INTO incident (dedup_key, host, check_name,
			    segment, severity, summary, source, detected_at,
			    open_event_id)
			VALUES (v_key, p_ev.host, p_ev.check_name, p_ev.segment,
			    p_ev.new_state,
			    p_ev.host || ' ' || p_ev.check_name || ' ' ||
			        p_ev.new_state,
			    p_ev.source, p_ev.observed_at, p_ev.id)
			RETURNING * INTO v_inc;
			INSERT INTO incident_transition (incident_id, actor,
			    from_status, to_status, from_phase, to_phase,
			    event_id, reason)
			VALUES (v_inc.id, p_actor, NULL, 'open', NULL,
			    'detection', p_ev.id,
			    'detected by ' || p_ev.source || ': ' || p_ev.output);
			v_n := notification_queue(v_inc, p_ev, 'opened',
			    p_recipients);
		ELSIF v_inc.severity <> p_ev.new_state THEN
			INSERT INTO incident_transition (incident_id, actor,
			    from_status, to_status, from_phase, to_phase,
			    event_id, reason)
			VALUES (v_inc.id, p_actor, 'open', 'open', v_inc.phase,
			    v_inc.phase, p_ev.id,
			    'state ' || v_inc.severity || ' -> ' ||
			        p_ev.new_state || ': ' || p_ev.output);
			UPDATE incident SET severity = p_ev.new_state,
			    updated_at = now()
			WHERE id = v_inc.id;
		END IF;
	ELSIF FOUND THEN
		UPDATE incident SET status = 'recovered',
		    recovered_at = p_ev.observed_at,
		    recover_event_id = p_ev.id, updated_at = now()
		WHERE id = v_inc.id
		RETURNING * INTO v_inc;
		INSERT INTO incident_transition (incident_id, actor,
		    from_status, to_status, from_phase, to_phase, event_id,
		    reason)
		VALUES (v_inc.id, p_actor, 'open', 'recovered', v_inc.phase,
		    v_inc.phase, p_ev.id,
		    'recovered (' || p_ev.source || '): ' || p_ev.output);
		v_n := notification_queue(v_inc, p_ev, 'recovered',
		    p_recipients);
	END IF;
	RETURN v_n;
END
$$;

-- incidentd: applies the state changes past the consumer's cursor and
-- advances the cursor, all in the caller's one transaction, so a crash at
-- any point neither loses nor repeats an incident.  Returns the number of
-- events applied (0 when there is nothing new).
CREATE FUNCTION incident_ingest(p_consumer text, p_recipients jsonb,
    p_limit integer DEFAULT 500)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
	v_cursor bigint;
	v_ev state_event;
	v_events integer := 0;
	v_queued integer := 0;
BEGIN
	-- A new name continues where the others are (a renamed incidentd must
	-- not apply history again); the very first one starts at the start.
	INSERT INTO incidentd_cursor (consumer, last_event_id)
	SELECT p_consumer, coalesce(max(last_event_id), 0)
	FROM incidentd_cursor
	ON CONFLICT (consumer) DO NOTHING;
	SELECT last_event_id INTO v_cursor FROM incidentd_cursor
	WHERE consumer = p_consumer FOR UPDATE;

	FOR v_ev IN SELECT * FROM state_event WHERE id > v_cursor
	    ORDER BY id LIMIT p_limit LOOP
		v_queued := v_queued + incident_apply_event(v_ev, p_consumer,
		    p_recipients);
		v_cursor := v_ev.id;
		v_events := v_events + 1;
	END LOOP;

	IF v_events > 0 THEN
		UPDATE incidentd_cursor SET last_event_id = v_cursor,
		    updated_at = now()
		WHERE consumer = p_consumer;
	END IF;
	IF v_queued > 0 THEN
		PERFORM pg_notify('notification', '');
	END IF;
	RETURN v_events;
END
$$;

-- incidentd's sender: claims due notifications.  A row stays 'sending' under
-- a lease; if its sender dies, the lease runs out and the row is claimed
-- again.  A later message to the same recipient about the same incident
-- waits for the earlier one, so "recovered" never overtakes "opened".
CREATE FUNCTION notification_claim(p_limit integer, p_lease interval)
RETURNS SETOF notification LANGUAGE sql AS $$
	UPDATE notification AS n
	SET status = 'sending', attempts = n.attempts + 1,
	    lease_until = now() + p_lease
	WHERE n.id IN (
		SELECT c.id FROM notification AS c
		WHERE ((c.status = 'pending' AND c.next_attempt_at <= now())
		    OR (c.status = 'sending' AND c.lease_until < now()))
		  AND NOT EXISTS (
			SELECT 1 FROM notification AS p
			WHERE p.incident_id = c.incident_id
			  AND p.channel = c.channel
			  AND p.recipient = c.recipient
			  AND p.id < c.id
			  AND p.status IN ('pending', 'sending'))
		ORDER BY c.id
		LIMIT p_limit
		FOR UPDATE SKIP LOCKED)
	RETURNING n.*
$$;

-- incidentd's sender: records the outcome of one attempt.  A failure is
-- retried with exponential backoff; after p_max_attempts (0 = never) the
-- row is marked failed and stays for an operator to see.
CREATE FUNCTION notification_done(p_id bigint, p_ok boolean, p_error text,
    p_retry_min interval, p_retry_max interval, p_max_attempts integer)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	v_row notification;
BEGIN
	SELECT * INTO v_row FROM notification WHERE id = p_id FOR UPDATE;
	IF NOT FOUND OR v_row.status <> 'sending' THEN
		RETURN coalesce(v_row.status, 'missing');
	END IF;
	IF p_ok THEN
		UPDATE notification SET status = 'sent', sent_at = now(),
		    lease_until = NULL, last_error = NULL
		WHERE id = p_id;
		RETURN 'sent';
	END IF;
	IF p_max_attempts > 0 AND v_row.attempts >= p_max_attempts THEN
		UPDATE notification SET status = 'failed', lease_until = NULL,
		    last_error = p_error
		WHERE id = p_id;
		RETURN 'failed';
	END IF;
	UPDATE notification SET status = 'pending', lease_until = NULL,
	    last_error = p_error,
	    next_attempt_at = now() + least(p_retry_max,
	        p_retry_min * power(2, least(v_row.attempts - 1, 30)))
	WHERE id = p_id;
	RETURN 'pending';
END
$$;
