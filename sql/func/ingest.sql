-- How state changes become incidents: incidentd (the active one, holding
-- the lock of incidentd_try_active) reads state_event past the shared
-- cursor and applies each change to an incident in the same transaction as
-- the cursor moves: it opens one, attaches a covered problem to its root's
-- incident, reopens a recent one, or marks it recovered, and fills in what
-- the system knows.

-- The facts a notification is written from, frozen when it is queued.
CREATE OR REPLACE FUNCTION incident_facts(p_inc incident, p_ev state_event)
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

-- Applies one state change: a problem covered by a failed root (first
-- isolation) is attached to its root's incident; a fault that comes back within the reopen window
-- reopens its incident; a new incident gets what the system knows.
CREATE OR REPLACE FUNCTION incident_apply_event(p_ev state_event,
    p_actor text, p_recipients jsonb)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
	v_key text := p_ev.host || '/' || p_ev.check_name;
	v_inc incident;
	v_root bigint;
	v_n integer := 0;
	v_sev text := CASE WHEN p_ev.new_state = 'OK' THEN 'WARNING'
	                   ELSE p_ev.new_state END;
	v_what text := p_ev.new_state ||
	    CASE WHEN p_ev.flapping THEN ' (flapping)' ELSE '' END;
	v_to text;
BEGIN
	SELECT * INTO v_inc FROM incident
	WHERE dedup_key = v_key AND status = 'open' FOR UPDATE;

	IF p_ev.new_state <> 'OK' OR p_ev.flapping IS TRUE THEN
		IF FOUND THEN
			IF v_inc.severity <> v_sev THEN
				PERFORM incident_move(v_inc.id, p_actor,
				    'system', NULL, NULL, p_ev.id,
				    'state ' || v_inc.severity || ' -> ' ||
				        v_what || ': ' || p_ev.output);
				UPDATE incident SET severity = v_sev,
				    updated_at = now()
				WHERE id = v_inc.id;
			END IF;
			RETURN 0;
		END IF;
		IF p_ev.root_cause IS NOT NULL THEN
			-- Covered: attach to the root's incident if it is
			-- open; if not yet, it picks this up when it opens.
			SELECT id INTO v_root FROM incident
			WHERE host = p_ev.root_cause AND status = 'open'
			ORDER BY id LIMIT 1;
			IF v_root IS NOT NULL THEN
				INSERT INTO incident_child AS c (incident_id,
				    host, check_name, state, host_state,
				    event_id)
				VALUES (v_root, p_ev.host, p_ev.check_name,
				    p_ev.new_state, p_ev.host_state, p_ev.id)
				ON CONFLICT (incident_id, host, check_name)
				DO UPDATE SET state = excluded.state,
				    host_state = excluded.host_state,
				    event_id = excluded.event_id,
				    recovered_at = NULL;
				-- only a host the service map knows can
				-- add to the impact
				IF EXISTS (SELECT 1 FROM service_dependency
				           WHERE host = p_ev.host) THEN
					PERFORM incident_fill_impact(v_root,
					    p_actor);
				END IF;
			END IF;
			RETURN 0;
		END IF;
		-- The same fault back soon after its recovery: reopen.
		SELECT * INTO v_inc FROM incident
		WHERE dedup_key = v_key AND status = 'recovered'
		  AND (SELECT reopen_window FROM lifecycle_setting) > '0'
		  AND recovered_at >= p_ev.observed_at -
		      (SELECT reopen_window FROM lifecycle_setting)
		ORDER BY recovered_at DESC LIMIT 1 FOR UPDATE;
		IF FOUND THEN
			v_to := CASE WHEN (SELECT seq FROM lifecycle_phase
			    WHERE phase = v_inc.phase) > 4 THEN 'recovery'
			    ELSE v_inc.phase END;
			PERFORM incident_put(v_inc.id, 'recovered_at', 'null',
			    p_actor, 'system', 'recurred');
			UPDATE incident SET severity = v_sev,
			    recover_event_id = NULL,
			    reopen_count = reopen_count + 1
			WHERE id = v_inc.id;
			v_inc := incident_move(v_inc.id, p_actor, 'system',
			    'open', v_to, p_ev.id, 'recurred within ' ||
			    (SELECT reopen_window FROM lifecycle_setting)::text
			    || ' of its recovery: ' || p_ev.output);
			PERFORM incident_put(v_inc.id, 'fault_end', 'null',
			    p_actor, 'system', 'recurred');
			RETURN notification_queue(v_inc, p_ev, 'opened',
			    p_recipients);
		END IF;
		INSERT INTO incident (dedup_key, host, check_name, segment,
		    severity, summary, source, detected_at, open_event_id)
		VALUES (v_key, p_ev.host, p_ev.check_name, p_ev.segment, v_sev,
		    p_ev.host || ' ' || p_ev.check_name || ' ' || v_what,
		    p_ev.source, p_ev.observed_at, p_ev.id)
		RETURNING * INTO v_inc;
		PERFORM incident_move(v_inc.id, p_actor, 'system', NULL, NULL,
		    p_ev.id, 'detected by ' || p_ev.source || ': ' ||
		    p_ev.output, true);
		PERFORM incident_prefill(v_inc.id, p_ev, p_actor);
		SELECT * INTO v_inc FROM incident WHERE id = v_inc.id;
		RETURN notification_queue(v_inc, p_ev, 'opened', p_recipients);
	END IF;

	-- OK: a child attached to a root incident recovers there.
	UPDATE incident_child SET recovered_at = p_ev.observed_at,
	    state = 'OK'
	WHERE host = p_ev.host AND check_name = p_ev.check_name
	  AND recovered_at IS NULL;
	IF v_inc.id IS NOT NULL THEN
		UPDATE incident SET recovered_at = p_ev.observed_at,
		    recover_event_id = p_ev.id
		WHERE id = v_inc.id;
		v_inc := incident_move(v_inc.id, p_actor, 'system',
		    'recovered', NULL, p_ev.id,
		    'recovered (' || p_ev.source || '): ' || p_ev.output);
		INSERT INTO incident_field_change (incident_id, actor, role,
		    field, old_value, new_value, reason)
		VALUES (v_inc.id, p_actor, 'system', 'recovered_at', NULL,
		    to_jsonb(p_ev.observed_at), 'reported OK by ' ||
		    p_ev.source);
		IF v_inc.fault_end IS NULL THEN
			PERFORM incident_put(v_inc.id, 'fault_end',
			    to_jsonb(p_ev.observed_at), p_actor, 'system',
			    'recovered');
		END IF;
		v_n := notification_queue(v_inc, p_ev, 'recovered',
		    p_recipients);
	END IF;
	RETURN v_n;
END
$$;

-- The shared cursor's name.  An older database kept one cursor per
-- instance: the shared one starts where the furthest of them is.
CREATE OR REPLACE FUNCTION incident_ingest(p_consumer text, p_recipients jsonb,
    p_limit integer DEFAULT 500)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
	v_cursor bigint;
	v_ev state_event;
	v_events integer := 0;
	v_queued integer := 0;
BEGIN
	INSERT INTO incidentd_cursor (consumer, last_event_id)
	SELECT 'incidentd', coalesce(max(last_event_id), 0)
	FROM incidentd_cursor
	ON CONFLICT (consumer) DO NOTHING;
	SELECT last_event_id INTO v_cursor FROM incidentd_cursor
	WHERE consumer = 'incidentd' FOR UPDATE;

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
		WHERE consumer = 'incidentd';
	END IF;
	IF v_queued > 0 THEN
		PERFORM pg_notify('notification', '');
	END IF;
	RETURN v_events;
END
$$;

-- The services an incident touches through its host, its check and its
-- attached children, with their departments; filled by the system while
-- no person has set them.
CREATE OR REPLACE FUNCTION incident_fill_impact(p_id bigint, p_actor text)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	v_inc incident;
	v_services jsonb;
	v_depts jsonb;
	v_impact smallint;
BEGIN
	SELECT * INTO v_inc FROM incident WHERE id = p_id;
	WITH hit AS (
		SELECT v_inc.host AS host, v_inc.check_name AS check_name
		UNION
		SELECT host, check_name FROM incident_child
		WHERE incident_id = p_id),
	svc AS (
		SELECT DISTINCT d.service FROM service_dependency d
		JOIN hit ON hit.host = d.host
		    AND (d.check_name = '' OR d.check_name = hit.check_name))
	SELECT (SELECT coalesce(jsonb_agg(service ORDER BY service), '[]')
	        FROM svc),
	       (SELECT coalesce(jsonb_agg(DISTINCT sd.department), '[]')
	        FROM service_department sd JOIN svc USING (service)),
	       (SELECT min(s.impact) FROM service s JOIN svc
	        ON svc.service = s.name)
	INTO v_services, v_depts, v_impact;
	IF v_services = '[]'::jsonb THEN
		RETURN;
	END IF;
	IF NOT EXISTS (SELECT 1 FROM incident_field_change
	               WHERE incident_id = p_id
	                 AND field = 'affected_services'
	                 AND role <> 'system') THEN
		PERFORM incident_put(p_id, 'affected_services', v_services,
		    p_actor, 'system', 'from the service map');
	END IF;
	IF NOT EXISTS (SELECT 1 FROM incident_field_change
	               WHERE incident_id = p_id
	                 AND field = 'affected_departments'
	                 AND role <> 'system') THEN
		PERFORM incident_put(p_id, 'affected_departments', v_depts,
		    p_actor, 'system', 'from the service map');
	END IF;
	-- the highest impact of the services it touches
	IF NOT EXISTS (SELECT 1 FROM incident_field_change
	               WHERE incident_id = p_id AND field = 'impact'
	                 AND role <> 'system') THEN
		PERFORM incident_put(p_id, 'impact', to_jsonb(v_impact),
		    p_actor, 'system', 'the highest impact of ' ||
		    (SELECT string_agg(x, ', ') FROM
		     jsonb_array_elements_text(v_services) x));
	END IF;
END
$$;

-- Attaches to a root incident the checks that its host's failure covers.
CREATE OR REPLACE FUNCTION incident_attach_children(p_id bigint)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
	v_inc incident;
	v_n integer;
BEGIN
	SELECT * INTO v_inc FROM incident WHERE id = p_id;
	INSERT INTO incident_child (incident_id, host, check_name, state,
	    host_state)
	SELECT p_id, cs.host, cs.check_name, cs.state, cs.host_state
	FROM current_state cs
	WHERE cs.root_cause = v_inc.host
	  AND NOT (cs.host = v_inc.host AND cs.check_name = v_inc.check_name)
	  AND (cs.state <> 'OK' OR cs.host_state = 'UNREACHABLE')
	ON CONFLICT (incident_id, host, check_name) DO NOTHING;
	GET DIAGNOSTICS v_n = ROW_COUNT;
	RETURN v_n;
END
$$;

-- What the system knows at detection: isolation from topology, impact
-- from the service map, a problem to suggest.
CREATE OR REPLACE FUNCTION incident_prefill(p_id bigint, p_ev state_event,
    p_actor text)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	v_inc incident;
BEGIN
	SELECT * INTO v_inc FROM incident WHERE id = p_id;
	IF p_ev.id IS NOT NULL THEN
		PERFORM incident_put(p_id, 'suspected_component', to_jsonb(
		    CASE WHEN p_ev.host_state = 'DOWN' OR p_ev.check_kind
		        IN ('host', 'icmp') THEN p_ev.host
		    ELSE p_ev.host || '/' || p_ev.check_name END),
		    p_actor, 'system', 'from topology: ' ||
		    coalesce('host ' || p_ev.host_state, 'the failing check'));
		PERFORM incident_put(p_id, 'suspected_segment',
		    to_jsonb(p_ev.segment), p_actor, 'system',
		    'from topology');
		PERFORM incident_put(p_id, 'fault_start',
		    to_jsonb(p_ev.observed_at), p_actor, 'system',
		    'detected by ' || p_ev.source);
		PERFORM incident_attach_children(p_id);
	END IF;
	PERFORM incident_fill_impact(p_id, p_actor);
	PERFORM incident_suggest_problem(p_id);
END
$$;

CREATE OR REPLACE FUNCTION incidentd_active_key() RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$ SELECT 4827390115::bigint $$;

-- Takes the active role for this session if no other session has it.
CREATE OR REPLACE FUNCTION incidentd_try_active() RETURNS boolean
LANGUAGE sql AS $$ SELECT pg_try_advisory_lock(incidentd_active_key()) $$;

-- The backend pid of the active incidentd, NULL if none: for incidentctl
-- and the tests.
CREATE OR REPLACE FUNCTION incidentd_active_pid() RETURNS integer
LANGUAGE sql STABLE AS $$
	SELECT pid FROM pg_locks
	WHERE locktype = 'advisory' AND granted
	  AND ((classid::bigint << 32) | objid::bigint) = incidentd_active_key()
	  AND objsubid = 1
$$;
