-- 004: topology, first isolation and flapping.  monitord records with each
-- change the state of the host (for its host check), the root-cause host a
-- problem is covered by (first isolation: the host is behind a router that
-- is down, or the check's host is down), and whether the check started or
-- stopped flapping.  A covered problem opens no incident of its own; a
-- flapping check opens one incident, not one per change.

ALTER TABLE state_event
	ADD COLUMN host_state text
	    CHECK (host_state IN ('PENDING', 'UP', 'DOWN', 'UNREACHABLE')),
	ADD COLUMN root_cause text,
	-- true: flapping started; false: it stopped; NULL: neither
	ADD COLUMN flapping boolean;
CREATE INDEX state_event_root_cause ON state_event (root_cause, observed_at)
	WHERE root_cause IS NOT NULL;

ALTER TABLE current_state
	ADD COLUMN host_state text,
	ADD COLUMN root_cause text,
	ADD COLUMN flapping boolean NOT NULL DEFAULT false;

-- As in 002, with the topology and flapping fields.
CREATE FUNCTION monitord_record_change_ex(
	p_source text, p_seq bigint, p_host text, p_check text, p_kind text,
	p_segment text, p_old text, p_new text, p_output text,
	p_observed timestamptz, p_host_state text, p_root text,
	p_flapping boolean)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	v_id bigint;
BEGIN
	PERFORM pg_advisory_xact_lock(hashtext('monitord.state_event'));
	INSERT INTO state_event (source, source_seq, host, check_name,
	    check_kind, segment, old_state, new_state, output, observed_at,
	    host_state, root_cause, flapping)
	VALUES (p_source, p_seq, p_host, p_check, p_kind, p_segment, p_old,
	    p_new, p_output, p_observed, p_host_state, p_root, p_flapping)
	ON CONFLICT (source, source_seq) DO NOTHING
	RETURNING id INTO v_id;
	IF v_id IS NULL THEN
		RETURN NULL;
	END IF;
	INSERT INTO current_state AS cs (host, check_name, check_kind, segment,
	    state, output, since, source, source_seq, host_state, root_cause,
	    flapping)
	VALUES (p_host, p_check, p_kind, p_segment, p_new, p_output,
	    p_observed, p_source, p_seq, p_host_state, p_root,
	    coalesce(p_flapping, false))
	ON CONFLICT (host, check_name) DO UPDATE
	SET check_kind = excluded.check_kind, segment = excluded.segment,
	    state = excluded.state, output = excluded.output,
	    since = CASE WHEN cs.state = excluded.state THEN cs.since
	                 ELSE excluded.since END,
	    source = excluded.source, source_seq = excluded.source_seq,
	    host_state = coalesce(excluded.host_state, cs.host_state),
	    root_cause = excluded.root_cause,
	    flapping = CASE WHEN p_flapping IS NULL THEN cs.flapping
	                    ELSE p_flapping END,
	    updated_at = now()
	WHERE cs.source <> excluded.source
	   OR cs.source_seq < excluded.source_seq;
	PERFORM pg_notify('state_event', '');
	RETURN v_id;
END
$$;

-- As in 002; each change may also carry host_state, root and flapping.
CREATE OR REPLACE FUNCTION monitord_record_changes(p_source text,
    p_changes jsonb)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
	v_r record;
	v_n integer := 0;
BEGIN
	FOR v_r IN
		SELECT x.* FROM jsonb_array_elements(p_changes)
		    WITH ORDINALITY AS e(v, i),
		    jsonb_to_record(e.v) AS x(seq bigint, host text,
		        "check" text, kind text, segment text, old text,
		        new text, output text, observed timestamptz,
		        host_state text, root text, flapping boolean)
		ORDER BY e.i
	LOOP
		IF monitord_record_change_ex(p_source, v_r.seq, v_r.host,
		    v_r."check", v_r.kind, v_r.segment, v_r.old, v_r.new,
		    v_r.output, v_r.observed, v_r.host_state, v_r.root,
		    v_r.flapping) IS NOT NULL THEN
			v_n := v_n + 1;
		END IF;
	END LOOP;
	RETURN v_n;
END
$$;

-- As in 001, with first isolation and flapping: a problem covered by a
-- root cause opens nothing (the root's own incident stands for it); the
-- start of flapping is a problem even while the state is OK, and opens
-- or joins the one incident of that check.
CREATE OR REPLACE FUNCTION incident_apply_event(p_ev state_event,
    p_actor text, p_recipients jsonb)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
	v_key text := p_ev.host || '/' || p_ev.check_name;
	v_inc incident;
	v_n integer := 0;
	v_sev text := CASE WHEN p_ev.new_state = 'OK' THEN 'WARNING'
	                   ELSE p_ev.new_state END;
	v_what text := p_ev.new_state ||
	    CASE WHEN p_ev.flapping THEN ' (flapping)' ELSE '' END;
BEGIN
	SELECT * INTO v_inc FROM incident
	WHERE dedup_key = v_key AND status = 'open' FOR UPDATE;

	IF p_ev.new_state <> 'OK' OR p_ev.flapping IS TRUE THEN
		IF NOT FOUND THEN
			IF p_ev.root_cause IS NOT NULL THEN
				RETURN 0;
			END IF;
			INSERT INTO incident (dedup_key, host, check_name,
			    segment, severity, summary, source, detected_at,
			    open_event_id)
			VALUES (v_key, p_ev.host, p_ev.check_name, p_ev.segment,
			    v_sev,
			    p_ev.host || ' ' || p_ev.check_name || ' ' ||
			        v_what,
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
		ELSIF v_inc.severity <> v_sev THEN
			INSERT INTO incident_transition (incident_id, actor,
			    from_status, to_status, from_phase, to_phase,
			    event_id, reason)
			VALUES (v_inc.id, p_actor, 'open', 'open', v_inc.phase,
			    v_inc.phase, p_ev.id,
			    'state ' || v_inc.severity || ' -> ' || v_what ||
			        ': ' || p_ev.output);
			UPDATE incident SET severity = v_sev, updated_at = now()
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
