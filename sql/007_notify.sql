-- 007: notifications by SMS, and silenced by maintenance.
--
-- A contact may have a mobile number besides (or instead of) a mail
-- address; every notification then goes to each of them, one outbox row
-- per channel, sent, retried and marked alike.  The facts gain the
-- incident's priority, which the SMS text carries.
--
-- Maintenance silences notifications, never monitoring or records.
-- A fault that starts inside a downtime window (monitord marks its state
-- change with the downtime's name) opens its incident as usual but sends
-- no "opened" message; if it is still there when the window ends, the
-- message goes out then.  A "recovered" message goes out exactly when an
-- "opened" one did for that round, inside a window or not, so every
-- started message has its ended one and no ended message comes alone.

-- A storm is one message: an "opened" message waits group_window before
-- it may be sent, and lists the checks attached to its incident by then.
ALTER TABLE lifecycle_setting
	ADD COLUMN group_window interval NOT NULL DEFAULT '10 seconds',
	-- the contacts, for incidentd's own faults (see incident_self_alert)
	ADD COLUMN recipients jsonb NOT NULL DEFAULT '[]',
	-- reminders, the rate limit and escalation (see below)
	ADD COLUMN remind_after interval NOT NULL DEFAULT '30 minutes',
	ADD COLUMN remind_max integer NOT NULL DEFAULT 3,
	ADD COLUMN rate_limit integer NOT NULL DEFAULT 0,
	ADD COLUMN rate_window interval NOT NULL DEFAULT '10 minutes',
	ADD COLUMN escalate_priorities smallint[];

-- 006's lifecycle_configure keeps its work; this one adds the settings
-- of the notifications.
ALTER FUNCTION lifecycle_configure(jsonb) RENAME TO lifecycle_configure_006;
CREATE FUNCTION lifecycle_configure(p_conf jsonb)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	UPDATE lifecycle_setting SET
	    group_window = coalesce((p_conf ->> 'group_window')::interval,
	        group_window),
	    recipients = coalesce(p_conf -> 'recipients', recipients),
	    remind_after = coalesce((p_conf ->> 'remind_after')::interval,
	        remind_after),
	    remind_max = coalesce((p_conf ->> 'remind_max')::integer,
	        remind_max),
	    rate_limit = coalesce((p_conf ->> 'rate_limit')::integer,
	        rate_limit),
	    rate_window = coalesce((p_conf ->> 'rate_window')::interval,
	        rate_window),
	    escalate_priorities = CASE WHEN p_conf ? 'escalate_priorities'
	        THEN string_to_array(p_conf ->> 'escalate_priorities',
	            ',')::smallint[]
	        ELSE escalate_priorities END;
	PERFORM lifecycle_configure_006(p_conf);
END
$$;

ALTER TABLE incident
	ADD COLUMN silenced_by text,
	ADD COLUMN silenced_until timestamptz;
CREATE INDEX incident_silenced ON incident (silenced_until)
	WHERE silenced_by IS NOT NULL;

-- notification_queue, with the channels and the silence of maintenance
-- windows, is in 008_delivery.

-- incidentd, on its poll: the incidents whose maintenance window has
-- ended while their fault is still there get their "opened" message now.
-- Returns the number of incidents released.
CREATE FUNCTION incident_release_silenced(p_recipients jsonb)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
	v_inc incident;
	v_ev state_event;
	v_n integer := 0;
BEGIN
	FOR v_inc IN SELECT * FROM incident
	    WHERE silenced_by IS NOT NULL AND silenced_until <= now()
	    ORDER BY id FOR UPDATE SKIP LOCKED LOOP
		IF v_inc.status = 'open' THEN
			SELECT * INTO v_ev FROM state_event
			WHERE host = v_inc.host AND check_name = v_inc.check_name
			ORDER BY id DESC LIMIT 1;
			-- the window is over: this time it must not silence
			v_ev.downtime := NULL;
			PERFORM notification_queue(v_inc, v_ev, 'opened',
			    p_recipients);
			INSERT INTO incident_transition (incident_id, actor,
			    role, from_status, to_status, from_phase,
			    to_phase, reason)
			VALUES (v_inc.id, 'incidentd', 'system', v_inc.status,
			    v_inc.status, v_inc.phase, v_inc.phase,
			    'maintenance ' || v_inc.silenced_by ||
			    ' ended with the fault still there: notified');
			v_n := v_n + 1;
		END IF;
		UPDATE incident SET silenced_by = NULL, silenced_until = NULL
		WHERE id = v_inc.id;
	END LOOP;
	IF v_n > 0 THEN
		PERFORM pg_notify('notification', '');
	END IF;
	RETURN v_n;
END
$$;

-- A channel that keeps failing is a fault of incidentd itself: when a
-- notification is given up on, an incident opens for its channel (host
-- "incidentd", check "notify/<channel>") and is notified over every
-- channel, so a dead mail relay is reported by SMS; the next message that
-- gets through on that channel recovers it.  The contacts it goes to are
-- the ones incidentd last configured.
ALTER TABLE incident DROP CONSTRAINT incident_origin_check;
ALTER TABLE incident ADD CONSTRAINT incident_origin_check
	CHECK (origin IN ('monitord', 'manual', 'incidentd'));

-- Opens (p_problem given) or recovers (NULL) the incident of a channel.
CREATE FUNCTION incident_self_alert(p_channel text, p_problem text)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	v_key text := 'incidentd/notify/' || p_channel;
	v_inc incident;
	v_ev state_event;
	v_to text;
BEGIN
	SELECT * INTO v_inc FROM incident
	WHERE dedup_key = v_key AND status = 'open' FOR UPDATE;
	IF FOUND = (p_problem IS NOT NULL) THEN
		RETURN;         -- already open, or nothing to recover
	END IF;
	v_ev.source := 'incidentd';
	v_ev.host := 'incidentd';
	v_ev.check_name := 'notify/' || p_channel;
	v_ev.segment := 'other';
	v_ev.observed_at := now();
	IF p_problem IS NULL THEN
		v_ev.old_state := 'CRITICAL';
		v_ev.new_state := 'OK';
		v_ev.output := 'a notification by ' || p_channel ||
		    ' was delivered again';
		UPDATE incident SET status = 'recovered', recovered_at = now(),
		    fault_end = coalesce(fault_end, now()), updated_at = now()
		WHERE id = v_inc.id
		RETURNING * INTO v_inc;
		v_to := 'recovered';
	ELSE
		v_ev.old_state := 'OK';
		v_ev.new_state := 'CRITICAL';
		v_ev.output := p_problem;
		INSERT INTO incident (dedup_key, host, check_name, segment,
		    severity, summary, source, detected_at, origin,
		    suspected_component, suspected_segment, fault_start)
		VALUES (v_key, v_ev.host, v_ev.check_name, v_ev.segment,
		    'CRITICAL', 'notifications by ' || p_channel ||
		    ' are failing', 'incidentd', now(), 'incidentd',
		    'incidentd/notify/' || p_channel, 'other', now())
		RETURNING * INTO v_inc;
		v_to := 'opened';
	END IF;
	INSERT INTO incident_transition (incident_id, actor, role,
	    from_status, to_status, from_phase, to_phase, reason)
	VALUES (v_inc.id, 'incidentd', 'system',
	    CASE WHEN v_to = 'opened' THEN NULL ELSE 'open' END,
	    v_inc.status, CASE WHEN v_to = 'opened' THEN NULL
	    ELSE v_inc.phase END, v_inc.phase, v_ev.output);
	PERFORM notification_queue(v_inc, v_ev, v_to,
	    (SELECT recipients FROM lifecycle_setting));
	PERFORM pg_notify('notification', '');
END
$$;

-- A mail about a priority 1 incident that failed an attempt falls back
-- to SMS for the same contact, if they have a number and were not sent
-- that message by SMS already.
CREATE FUNCTION notification_fallback(p_row notification)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	IF p_row.channel <> 'email' OR (SELECT priority FROM incident
	    WHERE id = p_row.incident_id) IS DISTINCT FROM 1 THEN
		RETURN;
	END IF;
	INSERT INTO notification (incident_id, kind, round, channel,
	    recipient, recipient_name, lang, facts)
	SELECT p_row.incident_id, p_row.kind, p_row.round, 'sms', r->>'sms',
	    p_row.recipient_name, p_row.lang,
	    p_row.facts || jsonb_build_object('priority', 1)
	FROM jsonb_array_elements((SELECT recipients
	                           FROM lifecycle_setting)) AS r
	WHERE r->>'email' = p_row.recipient
	  AND coalesce(r->>'sms', '') <> ''
	ON CONFLICT (incident_id, kind, round, channel, recipient)
	DO NOTHING;
	IF FOUND THEN
		PERFORM pg_notify('notification', '');
	END IF;
END
$$;

-- As in 001, and a row given up on, or sent, tells its channel's incident.
ALTER FUNCTION notification_done(bigint, boolean, text, interval, interval,
    integer) RENAME TO notification_done_001;
CREATE FUNCTION notification_done(p_id bigint, p_ok boolean, p_error text,
    p_retry_min interval, p_retry_max interval, p_max_attempts integer)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	v_status text;
	v_row notification;
BEGIN
	v_status := notification_done_001(p_id, p_ok, p_error, p_retry_min,
	    p_retry_max, p_max_attempts);
	SELECT * INTO v_row FROM notification WHERE id = p_id;
	IF v_status = 'pending' THEN
		PERFORM notification_fallback(v_row);
	ELSIF v_status = 'sent' THEN
		PERFORM incident_self_alert(v_row.channel, NULL);
	ELSIF v_status = 'failed' THEN
		PERFORM notification_fallback(v_row);
		PERFORM incident_self_alert(v_row.channel, format(
		    'notification #%s (%s %s to %s) failed %s times: %s',
		    v_row.id, (SELECT ref FROM incident
		               WHERE id = v_row.incident_id), v_row.kind,
		    v_row.recipient, v_row.attempts, p_error));
	END IF;
	RETURN v_status;
END
$$;

-- Reminders: an incident of priority 1 or 2 that nobody has acknowledged
-- is told again every remind_after, at most remind_max times.  Each
-- reminder is a message of its own kind, numbered by its round.
ALTER TABLE notification DROP CONSTRAINT notification_kind_check;
ALTER TABLE notification ADD CONSTRAINT notification_kind_check
	CHECK (kind IN ('opened', 'recovered', 'reminder', 'escalated'));

-- incidentd, on its poll: queues the reminders that are due.  Returns the
-- number of incidents reminded of.
CREATE FUNCTION incident_remind(p_recipients jsonb)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
	v_set lifecycle_setting;
	v_inc incident;
	v_ev state_event;
	v_last timestamptz;
	v_sent integer;
	v_n integer := 0;
BEGIN
	SELECT * INTO v_set FROM lifecycle_setting;
	IF v_set.remind_max <= 0 OR v_set.remind_after <= '0' THEN
		RETURN 0;
	END IF;
	FOR v_inc IN SELECT * FROM incident
	    WHERE status = 'open' AND acknowledged_at IS NULL
	      AND priority <= 2 AND silenced_by IS NULL
	    ORDER BY id FOR UPDATE SKIP LOCKED LOOP
		-- only what was told, and was told long enough ago
		SELECT max(created_at),
		    count(*) FILTER (WHERE kind = 'reminder')
		INTO v_last, v_sent
		FROM (SELECT DISTINCT ON (kind, round) kind, round, created_at
		      FROM notification WHERE incident_id = v_inc.id
		        AND (kind = 'reminder' OR (kind = 'opened'
		             AND round = v_inc.reopen_count))
		      ORDER BY kind, round, created_at) m;
		IF v_last IS NULL OR v_last > now() - v_set.remind_after OR
		    v_sent >= v_set.remind_max THEN
			CONTINUE;
		END IF;
		SELECT * INTO v_ev FROM state_event
		WHERE host = v_inc.host AND check_name = v_inc.check_name
		ORDER BY id DESC LIMIT 1;
		v_ev.downtime := NULL;
		-- a reminder's round is its number, so each is a new row
		v_inc.reopen_count := (SELECT coalesce(max(round), 0) + 1
		    FROM notification WHERE incident_id = v_inc.id
		      AND kind = 'reminder');
		PERFORM notification_queue(v_inc, v_ev, 'reminder',
		    p_recipients);
		v_n := v_n + 1;
	END LOOP;
	IF v_n > 0 THEN
		PERFORM pg_notify('notification', '');
	END IF;
	RETURN v_n;
END
$$;

-- A rate limit per recipient and channel: a recipient who was sent
-- rate_limit messages within rate_window waits until the oldest of them
-- leaves the window.  Messages are deferred, never dropped, and those of
-- a priority 1 incident never wait.  0 turns it off.
CREATE INDEX notification_sent_to ON notification (channel, recipient,
    sent_at) WHERE status = 'sent';

-- incidentd's sender: defers what the rate limit holds back, then claims
-- as notification_claim does.
CREATE FUNCTION notification_claim_limited(p_limit integer,
    p_lease interval)
RETURNS SETOF notification LANGUAGE plpgsql AS $$
DECLARE
	v_set lifecycle_setting;
BEGIN
	SELECT * INTO v_set FROM lifecycle_setting;
	IF v_set.rate_limit > 0 THEN
		UPDATE notification AS n
		SET next_attempt_at = (
		    SELECT min(r.sent_at) + v_set.rate_window FROM (
			SELECT s.sent_at FROM notification s
			WHERE s.status = 'sent' AND s.channel = n.channel
			  AND s.recipient = n.recipient
			  AND s.sent_at > now() - v_set.rate_window
			ORDER BY s.sent_at DESC LIMIT v_set.rate_limit) r)
		WHERE n.status = 'pending' AND n.next_attempt_at <= now()
		  AND (n.facts ->> 'priority') IS DISTINCT FROM '1'
		  AND (SELECT count(*) FROM notification s
		       WHERE s.status = 'sent' AND s.channel = n.channel
		         AND s.recipient = n.recipient
		         AND s.sent_at > now() - v_set.rate_window)
		      >= v_set.rate_limit;
	END IF;
	RETURN QUERY SELECT * FROM notification_claim(p_limit, p_lease);
END
$$;

-- Escalation: a contact with an escalation delay is told of an incident
-- only if it is still unacknowledged that long after its first message
-- (and of a priority that escalates); acknowledging stops it.  Such a
-- message is an "escalated" one whose round is the reopen round times 100
-- plus the level, and its recipients are told of the recovery too.

-- incidentd, on its poll: queues the escalations that are due.  Returns
-- the number of escalation messages queued.
CREATE FUNCTION incident_escalate(p_recipients jsonb)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
	v_prios smallint[] := (SELECT escalate_priorities
	                       FROM lifecycle_setting);
	v_inc incident;
	v_ev state_event;
	v_first timestamptz;
	v_lv record;
	v_round integer;
	v_n integer := 0;
BEGIN
	FOR v_inc IN SELECT * FROM incident
	    WHERE status = 'open' AND acknowledged_at IS NULL
	      AND silenced_by IS NULL
	      AND (v_prios IS NULL OR priority = ANY (v_prios))
	    ORDER BY id FOR UPDATE SKIP LOCKED LOOP
		-- from when the first message was due: one held for the
		-- morning (008_delivery) does not escalate overnight
		SELECT min(coalesce(due_at, created_at)) INTO v_first
		FROM notification
		WHERE incident_id = v_inc.id AND kind = 'opened'
		  AND round = v_inc.reopen_count;
		IF v_first IS NULL THEN
			CONTINUE;
		END IF;
		FOR v_lv IN
			SELECT g.after_ms, row_number() OVER (ORDER BY
			    g.after_ms) AS level, g.who
			FROM (SELECT (r->>'after_ms')::bigint AS after_ms,
			          jsonb_agg(r) AS who
			      FROM jsonb_array_elements(p_recipients) AS r
			      WHERE (r->>'after_ms')::bigint > 0
			      GROUP BY 1) AS g
		LOOP
			v_round := v_inc.reopen_count * 100 + v_lv.level;
			IF v_first + v_lv.after_ms * interval '1 millisecond'
			    > now() OR EXISTS (SELECT 1 FROM notification
			    WHERE incident_id = v_inc.id AND kind = 'escalated'
			      AND round = v_round) THEN
				CONTINUE;
			END IF;
			SELECT * INTO v_ev FROM state_event
			WHERE host = v_inc.host
			  AND check_name = v_inc.check_name
			ORDER BY id DESC LIMIT 1;
			v_ev.downtime := NULL;
			v_inc.reopen_count := v_round;
			v_n := v_n + notification_queue(v_inc, v_ev,
			    'escalated', v_lv.who);
			v_inc.reopen_count := v_round / 100;
		END LOOP;
	END LOOP;
	IF v_n > 0 THEN
		PERFORM pg_notify('notification', '');
	END IF;
	RETURN v_n;
END
$$;
