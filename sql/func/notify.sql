-- The notification outbox: rows queued in the transaction of the change
-- that causes them, claimed by incidentd's sender under a lease, retried
-- with backoff, held for office hours and maintenance windows, grouped,
-- rate-limited, reminded of and escalated; a channel that keeps failing
-- becomes an incident of its own.

-- incidentd's sender: claims due notifications.  A row stays 'sending' under
-- a lease; if its sender dies, the lease runs out and the row is claimed
-- again.  A later message to the same recipient about the same incident
-- waits for the earlier one, so "recovered" never overtakes "opened".
CREATE OR REPLACE FUNCTION notification_claim(p_limit integer, p_lease interval)
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

-- What incidentd's sender calls when an attempt ended: records the
-- outcome (notification_record_outcome), then falls back to another
-- channel for a message that failed or waits, and tells the contacts
-- when a channel keeps failing (or clears that once it works again).
CREATE OR REPLACE FUNCTION notification_done(p_id bigint, p_ok boolean,
    p_error text,
    p_retry_min interval, p_retry_max interval, p_max_attempts integer)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	v_status text;
	v_row notification;
BEGIN
	v_status := notification_record_outcome(p_id, p_ok, p_error, p_retry_min,
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

-- incidentd, on its poll: the incidents whose maintenance window has
-- ended while their fault is still there get their "opened" message now.
-- Returns the number of incidents released.
CREATE OR REPLACE FUNCTION incident_release_silenced(p_recipients jsonb)
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
			PERFORM incident_move(v_inc.id, 'incidentd', 'system',
			    NULL, NULL, NULL, 'maintenance ' ||
			    v_inc.silenced_by ||
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

-- Opens (p_problem given) or recovers (NULL) the incident of a channel.
CREATE OR REPLACE FUNCTION incident_self_alert(p_channel text, p_problem text)
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
		UPDATE incident SET recovered_at = now(),
		    fault_end = coalesce(fault_end, now())
		WHERE id = v_inc.id;
		v_inc := incident_move(v_inc.id, 'incidentd', 'system',
		    'recovered', NULL, NULL, v_ev.output);
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
		PERFORM incident_move(v_inc.id, 'incidentd', 'system', NULL,
		    NULL, NULL, v_ev.output, true);
		v_to := 'opened';
	END IF;
	PERFORM notification_queue(v_inc, v_ev, v_to,
	    (SELECT recipients FROM lifecycle_setting));
	PERFORM pg_notify('notification', '');
END
$$;

-- A mail about a priority 1 incident that failed an attempt falls back
-- to SMS for the same contact, if they have a number and were not sent
-- that message by SMS already.
CREATE OR REPLACE FUNCTION notification_fallback(p_row notification)
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

-- incidentd's sender: records the outcome of one attempt.  A failure is
-- retried with exponential backoff; after p_max_attempts (0 = never) the
-- row is marked failed and stays for an operator to see.
CREATE OR REPLACE FUNCTION notification_record_outcome(p_id bigint, p_ok boolean, p_error text,
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

-- incidentd, on its poll: queues the reminders that are due.  Returns the
-- number of incidents reminded of.
CREATE OR REPLACE FUNCTION incident_remind(p_recipients jsonb)
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

-- incidentd's sender: defers what the rate limit holds back, then claims
-- as notification_claim does.  A recipient's uses in the window are what
-- was sent in it, what is being sent now (claimed, not yet done: the
-- sender runs several at once) and, in this pass, the ones before it that
-- the limit still lets through; past rate_limit uses a message waits until
-- the oldest of the last rate_limit uses leaves the window (an in-flight
-- one counts as used now).
CREATE OR REPLACE FUNCTION notification_claim_limited(p_limit integer,
    p_lease interval)
RETURNS SETOF notification LANGUAGE plpgsql AS $$
DECLARE
	v_set lifecycle_setting;
BEGIN
	SELECT * INTO v_set FROM lifecycle_setting;
	IF v_set.rate_limit > 0 THEN
		WITH used AS (
			SELECT u.channel, u.recipient,
			    CASE WHEN u.status = 'sent' THEN u.sent_at
			         ELSE now() END AS at
			FROM notification u
			WHERE (u.status = 'sent'
			       AND u.sent_at > now() - v_set.rate_window)
			   OR u.status = 'sending'),
		due AS (
			SELECT c.id, c.channel, c.recipient,
			    row_number() OVER (PARTITION BY c.channel, c.recipient
			                       ORDER BY c.id) AS nth
			FROM notification c
			WHERE c.status = 'pending' AND c.next_attempt_at <= now()
			  AND (c.facts ->> 'priority') IS DISTINCT FROM '1'),
		held AS (
			SELECT d.id, (SELECT min(r.at) + v_set.rate_window FROM (
			        SELECT x.at FROM used x
			        WHERE x.channel = d.channel
			          AND x.recipient = d.recipient
			        ORDER BY x.at DESC LIMIT v_set.rate_limit) r)
			    AS until
			FROM due d
			WHERE d.nth + (SELECT count(*) FROM used x
			               WHERE x.channel = d.channel
			                 AND x.recipient = d.recipient)
			      > v_set.rate_limit)
		UPDATE notification AS n
		SET next_attempt_at = coalesce(h.until,
		    now() + v_set.rate_window)
		FROM held h WHERE n.id = h.id;
	END IF;
	RETURN QUERY SELECT * FROM notification_claim(p_limit, p_lease);
END
$$;

-- incidentd, on its poll: queues the escalations that are due.  Returns
-- the number of escalation messages queued.
CREATE OR REPLACE FUNCTION incident_escalate(p_recipients jsonb)
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

-- When a message of a kind and priority goes to a recipient (an element
-- of the recipients list): now, later (the office's opening), or never
-- (NULL: someone else is on duty).  Only a team member's "opened" and
-- "reminder" messages depend on the hour; a recovery follows whoever was
-- told, and an escalation is its caller's choice.
CREATE OR REPLACE FUNCTION duty_delivery(p_r jsonb, p_kind text, p_priority smallint)
RETURNS timestamptz LANGUAGE plpgsql STABLE AS $$
DECLARE
	v_team team;
	v_duty text;
BEGIN
	IF p_r->>'team' IS NULL OR p_kind NOT IN ('opened', 'reminder') THEN
		RETURN now();
	END IF;
	SELECT * INTO v_team FROM team WHERE name = p_r->>'team';
	IF NOT FOUND OR calendar_is_open(v_team.calendar, now()) THEN
		RETURN now();
	END IF;
	IF p_priority IS NULL OR p_priority = ANY (v_team.after_hours) THEN
		v_duty := team_on_duty(v_team.name, now());
		RETURN CASE WHEN v_duty IS NULL OR v_duty = p_r->>'name'
		            THEN now() END;
	END IF;
	IF p_kind = 'reminder' THEN
		RETURN NULL;    -- the morning's message is reminder enough
	END IF;
	-- an office that never opens cannot hold a message
	RETURN coalesce(calendar_next_open(v_team.calendar, now()), now());
END
$$;

-- incidentd's config: grouping, the contacts told of incidentd's own
-- faults, reminders, the rate limit and the priorities escalated.
CREATE OR REPLACE FUNCTION lifecycle_configure_notify(p_conf jsonb)
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
END
$$;

-- incidentd, after each attempt: notification_done, and the far end's
-- reference when it accepted the message.
CREATE OR REPLACE FUNCTION notification_result(p_id bigint, p_ok boolean, p_error text,
    p_ref text, p_retry_min interval, p_retry_max interval,
    p_max_attempts integer)
RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	IF p_ok AND coalesce(p_ref, '') <> '' THEN
		UPDATE notification SET provider_ref = left(p_ref, 200)
		WHERE id = p_id AND status = 'sending';
	END IF;
	RETURN notification_done(p_id, p_ok, p_error, p_retry_min,
	    p_retry_max, p_max_attempts);
END
$$;

-- Uses a link.  outcome: 'acknowledged'; 'already' (someone else was
-- first; the link is used up all the same); 'used' (this link was used
-- before); 'missing' (no such row); or 'refused: ...' when the lifecycle
-- refuses the acknowledgement.  With who acknowledged and when.
CREATE OR REPLACE FUNCTION incident_ack_link(p_notification bigint, p_remote text,
    p_tz text, OUT outcome text, OUT ref text, OUT acknowledged_by text,
    OUT acknowledged_at text, OUT lang text)
LANGUAGE plpgsql AS $$
DECLARE
	v_row notification;
	v_tz text := coalesce(p_tz, 'Asia/Tokyo');
	v_n integer;
BEGIN
	SELECT * INTO v_row FROM notification WHERE id = p_notification;
	IF NOT FOUND THEN
		outcome := 'missing';
		RETURN;
	END IF;
	lang := v_row.lang;
	INSERT INTO ack_link_use (notification_id, remote)
	VALUES (p_notification, coalesce(p_remote, ''))
	ON CONFLICT (notification_id) DO NOTHING;
	GET DIAGNOSTICS v_n = ROW_COUNT;
	IF v_n = 0 THEN
		outcome := 'used';
	ELSE
		BEGIN
			outcome := CASE WHEN incident_ack(v_row.incident_id,
			    coalesce(nullif(v_row.recipient_name, ''),
			             v_row.recipient), 'operator')
			    THEN 'acknowledged' ELSE 'already' END;
		EXCEPTION WHEN SQLSTATE 'LC001' OR SQLSTATE 'LC003' THEN
			outcome := 'refused: ' || SQLERRM;
		END;
	END IF;
	SELECT i.ref, coalesce(i.acknowledged_by, ''),
	    coalesce(to_char(i.acknowledged_at AT TIME ZONE v_tz,
	        'YYYY-MM-DD HH24:MI'), '')
	INTO ref, acknowledged_by, acknowledged_at
	FROM incident i WHERE i.id = v_row.incident_id;
END
$$;

-- Queues one message of a kind (opened, recovered, ...) about an incident
-- for each recipient, by their channels (email, sms, webhook), silenced
-- by a maintenance window the change falls in and held for the teams'
-- hours and duty.  Returns how many rows it queued.
CREATE OR REPLACE FUNCTION notification_queue(p_inc incident,
    p_ev state_event, p_kind text, p_recipients jsonb)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
	v_n integer;
	v_until timestamptz;
BEGIN
	-- a window scheduled in the console silences the change that
	-- monitord flagged with its name
	IF p_kind = 'opened' AND p_ev.downtime IS NOT NULL
	    AND NOT EXISTS (SELECT 1 FROM downtime_window
	        WHERE source = p_ev.source AND name = p_ev.downtime)
	    AND EXISTS (SELECT 1 FROM downtime_window
	        WHERE source = 'console' AND name = p_ev.downtime) THEN
		p_ev.source := 'console';
	END IF;
	IF p_kind = 'opened' AND p_ev.downtime IS NOT NULL THEN
		SELECT max(ends_at) INTO v_until FROM downtime_window
		WHERE source = p_ev.source AND name = p_ev.downtime
		  AND starts_at <= p_ev.observed_at
		  AND ends_at > p_ev.observed_at;
		-- A window nobody published cannot say when to speak
		-- again: better a message now than none.
		IF v_until IS NOT NULL THEN
			UPDATE incident SET silenced_by = p_ev.downtime,
			    silenced_until = v_until
			WHERE id = p_inc.id;
			PERFORM incident_move(p_inc.id, 'incidentd', 'system',
			    NULL, NULL, p_ev.id,
			    'notifications silenced by maintenance ' ||
			    p_ev.downtime || ' until ' || v_until::text);
			RETURN 0;
		END IF;
	END IF;
	IF p_kind = 'recovered' AND NOT EXISTS (
	    SELECT 1 FROM notification WHERE incident_id = p_inc.id
	      AND ((kind = 'opened' AND round = p_inc.reopen_count) OR
	           (kind = 'escalated' AND round / 100 = p_inc.reopen_count)))
	THEN
		-- nothing was said of its start: say nothing of its end,
		-- and nothing later either
		UPDATE incident SET silenced_by = NULL, silenced_until = NULL
		WHERE id = p_inc.id;
		RETURN 0;
	END IF;
	INSERT INTO notification (incident_id, kind, round, channel,
	    recipient, recipient_name, lang, next_attempt_at, facts, due_at)
	SELECT p_inc.id, p_kind, p_inc.reopen_count, c.channel, c.address,
	    coalesce(r->>'name', ''), coalesce(r->>'lang', 'ja'),
	    greatest(d.at, now() + CASE WHEN p_kind = 'opened' THEN
	        (SELECT group_window FROM lifecycle_setting) ELSE '0' END,
	        -- an end never overtakes its start held for the morning
	        CASE WHEN p_kind = 'recovered' THEN (SELECT
	            max(x.next_attempt_at) FROM notification x
	            WHERE x.incident_id = p_inc.id AND x.channel = c.channel
	              AND x.recipient = c.address AND x.kind = 'opened'
	              AND x.status = 'pending') END),
	    incident_facts(p_inc, p_ev) || jsonb_build_object('round',
	        p_inc.reopen_count, 'priority', p_inc.priority, 'children',
	        (SELECT count(*) FROM incident_child
	         WHERE incident_id = p_inc.id), 'after_maintenance',
	        p_inc.silenced_by), d.at
	FROM jsonb_array_elements(coalesce(p_recipients, '[]'::jsonb)) AS r
	-- a webhook's address is its contact's name: the URL, which may
	-- hold a token, stays in the configuration
	CROSS JOIN LATERAL (VALUES (1, 'email', r->>'email'),
	    (2, 'sms', r->>'sms'), (3, 'webhook', r->>'webhook'))
	    AS c(ord, channel, address)
	CROSS JOIN LATERAL (SELECT duty_delivery(r, p_kind,
	    p_inc.priority) AS at) AS d
	WHERE coalesce(c.address, '') <> '' AND d.at IS NOT NULL
	  -- the end goes to whoever was told of the start (at once or by
	  -- escalation); the start and reminders to those told at once; an
	  -- escalation to the level its caller chose
	  AND CASE p_kind
	      WHEN 'recovered' THEN EXISTS (SELECT 1 FROM notification x
	          WHERE x.incident_id = p_inc.id AND x.channel = c.channel
	            AND x.recipient = c.address
	            AND ((x.kind = 'opened' AND x.round = p_inc.reopen_count)
	              OR (x.kind = 'escalated'
	                  AND x.round / 100 = p_inc.reopen_count)))
	      WHEN 'escalated' THEN true
	      ELSE coalesce((r->>'after_ms')::bigint, 0) = 0 END
	  -- a contact may want SMS only for some priorities
	  AND (p_kind = 'recovered' OR c.channel <> 'sms'
	       OR r->>'sms_priorities' IS NULL
	       OR p_inc.priority = ANY (string_to_array(
	           r->>'sms_priorities', ',')::smallint[]))
	ORDER BY c.ord
	ON CONFLICT (incident_id, kind, round, channel, recipient)
	DO NOTHING;
	GET DIAGNOSTICS v_n = ROW_COUNT;
	RETURN v_n;
END
$$;
