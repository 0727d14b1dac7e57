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
	ADD COLUMN group_window interval NOT NULL DEFAULT '10 seconds';

-- 006's lifecycle_configure keeps its work; this one adds the window.
ALTER FUNCTION lifecycle_configure(jsonb) RENAME TO lifecycle_configure_006;
CREATE FUNCTION lifecycle_configure(p_conf jsonb)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	UPDATE lifecycle_setting SET
	    group_window = coalesce((p_conf ->> 'group_window')::interval,
	        group_window);
	PERFORM lifecycle_configure_006(p_conf);
END
$$;

ALTER TABLE incident
	ADD COLUMN silenced_by text,
	ADD COLUMN silenced_until timestamptz;
CREATE INDEX incident_silenced ON incident (silenced_until)
	WHERE silenced_by IS NOT NULL;

-- As in 006, with the channels and the silence of maintenance windows.
CREATE OR REPLACE FUNCTION notification_queue(p_inc incident,
    p_ev state_event, p_kind text, p_recipients jsonb)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
	v_n integer;
	v_until timestamptz;
BEGIN
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
			INSERT INTO incident_transition (incident_id, actor,
			    role, from_status, to_status, from_phase,
			    to_phase, event_id, reason)
			SELECT p_inc.id, 'incidentd', 'system', i.status,
			    i.status, i.phase, i.phase, p_ev.id,
			    'notifications silenced by maintenance ' ||
			    p_ev.downtime || ' until ' || v_until::text
			FROM incident i WHERE i.id = p_inc.id;
			RETURN 0;
		END IF;
	END IF;
	IF p_kind = 'recovered' AND NOT EXISTS (
	    SELECT 1 FROM notification WHERE incident_id = p_inc.id
	      AND kind = 'opened' AND round = p_inc.reopen_count) THEN
		-- nothing was said of its start: say nothing of its end,
		-- and nothing later either
		UPDATE incident SET silenced_by = NULL, silenced_until = NULL
		WHERE id = p_inc.id;
		RETURN 0;
	END IF;
	INSERT INTO notification (incident_id, kind, round, channel,
	    recipient, recipient_name, lang, next_attempt_at, facts)
	SELECT p_inc.id, p_kind, p_inc.reopen_count, c.channel, c.address,
	    coalesce(r->>'name', ''), coalesce(r->>'lang', 'ja'),
	    now() + CASE WHEN p_kind = 'opened' THEN
	        (SELECT group_window FROM lifecycle_setting) ELSE '0' END,
	    incident_facts(p_inc, p_ev) || jsonb_build_object('round',
	        p_inc.reopen_count, 'priority', p_inc.priority, 'children',
	        (SELECT count(*) FROM incident_child
	         WHERE incident_id = p_inc.id), 'after_maintenance',
	        p_inc.silenced_by)
	FROM jsonb_array_elements(coalesce(p_recipients, '[]'::jsonb)) AS r
	CROSS JOIN LATERAL (VALUES (1, 'email', r->>'email'),
	    (2, 'sms', r->>'sms')) AS c(ord, channel, address)
	WHERE coalesce(c.address, '') <> ''
	ORDER BY c.ord
	ON CONFLICT (incident_id, kind, round, channel, recipient)
	DO NOTHING;
	GET DIAGNOSTICS v_n = ROW_COUNT;
	RETURN v_n;
END
$$;

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
