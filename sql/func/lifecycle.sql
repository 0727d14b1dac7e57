-- The incident lifecycle: every move between phases and every field change
-- goes through these functions, which check it against the lifecycle's
-- tables (the moves, the roles, the fields each phase needs) and write the
-- append-only audit rows in the same transaction.  Errors carry their own
-- SQLSTATE: LC001 refused, LC002 conflict, LC003 not found.

CREATE OR REPLACE FUNCTION lifecycle_fail(p_code text, p_msg text)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION USING ERRCODE = p_code, MESSAGE = p_msg;
END
$$;

-- "isolation (一次切り分け)" for messages.
CREATE OR REPLACE FUNCTION lifecycle_phase_label(p_phase text)
RETURNS text LANGUAGE sql STABLE AS $$
	SELECT coalesce((SELECT phase || ' (' || name_ja || ')'
	    FROM lifecycle_phase WHERE phase = p_phase), p_phase)
$$;

-- Whether a field's value counts as given: empty text or lists do not.
CREATE OR REPLACE FUNCTION lifecycle_given(p_value jsonb)
RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
	SELECT p_value IS NOT NULL AND p_value <> 'null'::jsonb
	   AND p_value <> '""'::jsonb AND p_value <> '[]'::jsonb
$$;

-- The requirements of a phase the incident does not meet yet, as text:
-- "cause, action", "problem_id or fix_waiver".
CREATE OR REPLACE FUNCTION lifecycle_missing(p_inc incident, p_phase text)
RETURNS text[] LANGUAGE sql STABLE AS $$
	SELECT coalesce(array_agg(
	    array_to_string(r.fields, ' and ') ||
	    coalesce(' or ' || array_to_string(r.alt_fields, ' and '), '')
	    ORDER BY r.fields), '{}')
	FROM lifecycle_requirement r
	WHERE r.phase = p_phase
	  AND NOT (SELECT bool_and(lifecycle_given(to_jsonb(p_inc) -> f))
	           FROM unnest(r.fields) f)
	  AND NOT coalesce((SELECT bool_and(lifecycle_given(to_jsonb(p_inc) -> f))
	           FROM unnest(r.alt_fields) f), false)
$$;

-- Locks an incident for a change by a person or the system; checks that
-- the role exists, may change things, and (for the outsourcer) that the
-- incident is the outsourcer's.
CREATE OR REPLACE FUNCTION lifecycle_lock(p_id bigint, p_role text)
RETURNS incident LANGUAGE plpgsql AS $$
DECLARE
	v_inc incident;
	v_may boolean;
BEGIN
	SELECT may_change INTO v_may FROM lifecycle_role WHERE role = p_role;
	IF NOT FOUND THEN
		PERFORM lifecycle_fail('LC001', format(
		    'unknown role %L (roles: %s)', p_role,
		    (SELECT string_agg(role, ', ' ORDER BY role)
		     FROM lifecycle_role)));
	END IF;
	SELECT * INTO v_inc FROM incident WHERE id = p_id FOR UPDATE;
	IF NOT FOUND THEN
		PERFORM lifecycle_fail('LC003',
		    format('no incident INC-%s', lpad(p_id::text, 6, '0')));
	END IF;
	IF NOT v_may THEN
		PERFORM lifecycle_fail('LC001', format(
		    '%s: the %s role may not change incidents', v_inc.ref,
		    p_role));
	END IF;
	IF p_role = 'outsourcer' AND v_inc.assignee_kind IS DISTINCT FROM
	    'outsourcer' THEN
		PERFORM lifecycle_fail('LC001', format(
		    '%s is not assigned to the outsourcer; the outsourcer '
		    'role may only handle its own incidents', v_inc.ref));
	END IF;
	RETURN v_inc;
END
$$;

-- Writes one field and its audit row, no questions asked: the checks are
-- the caller's.  Returns whether the value changed.
CREATE OR REPLACE FUNCTION incident_put(p_id bigint, p_field text, p_value jsonb,
    p_actor text, p_role text, p_reason text)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
	v_old jsonb;
BEGIN
	SELECT to_jsonb(i) -> p_field INTO v_old FROM incident i
	WHERE id = p_id;
	IF v_old IS NOT DISTINCT FROM p_value OR
	    (NOT lifecycle_given(v_old) AND NOT lifecycle_given(p_value)) THEN
		RETURN false;
	END IF;
	EXECUTE format('UPDATE incident SET %I = '
	    '(jsonb_populate_record(NULL::incident, $1)).%I, '
	    'updated_at = now() WHERE id = $2', p_field, p_field)
	USING jsonb_build_object(p_field, p_value), p_id;
	INSERT INTO incident_field_change (incident_id, actor, role, field,
	    old_value, new_value, reason)
	VALUES (p_id, p_actor, p_role, p_field, v_old, p_value,
	    coalesce(p_reason, ''));
	RETURN true;
END
$$;

-- A value as the field's type wants it in JSON; a list may also be given
-- as "a, b, c".  Raises LC001 naming the field for a value that does not
-- fit.
CREATE OR REPLACE FUNCTION lifecycle_value(p_ref text, p_field lifecycle_field,
    p_value jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
	v_out jsonb;
	v_text text;
BEGIN
	IF p_value IS NULL OR p_value = 'null'::jsonb THEN
		RETURN 'null'::jsonb;
	END IF;
	v_text := CASE WHEN jsonb_typeof(p_value) = 'string'
	               THEN p_value #>> '{}' ELSE p_value::text END;
	BEGIN
		CASE p_field.type
		WHEN 'text' THEN
			IF jsonb_typeof(p_value) NOT IN ('string', 'number')
			THEN
				RAISE EXCEPTION 'not text';
			END IF;
			v_out := to_jsonb(btrim(v_text));
		WHEN 'text[]' THEN
			IF jsonb_typeof(p_value) = 'array' THEN
				v_out := (SELECT coalesce(jsonb_agg(btrim(x)
				    ORDER BY o), '[]') FROM
				    jsonb_array_elements_text(p_value)
				    WITH ORDINALITY AS e(x, o)
				    WHERE btrim(x) <> '');
			ELSE
				v_out := (SELECT coalesce(jsonb_agg(btrim(x)
				    ORDER BY o), '[]') FROM
				    unnest(string_to_array(v_text, ','))
				    WITH ORDINALITY AS e(x, o)
				    WHERE btrim(x) <> '');
			END IF;
		WHEN 'smallint' THEN
			v_out := to_jsonb(v_text::smallint);
		WHEN 'bigint' THEN
			-- a problem by number or by reference
			IF v_text ~* '^PRB-' THEN
				v_text := substr(v_text, 5);
			END IF;
			v_out := to_jsonb(v_text::bigint);
		WHEN 'timestamptz' THEN
			v_out := to_jsonb(v_text::timestamptz);
		END CASE;
	EXCEPTION WHEN OTHERS THEN
		PERFORM lifecycle_fail('LC001', format(
		    '%s: %s: %s is not a valid %s', p_ref, p_field.field,
		    p_value::text, CASE p_field.type
		        WHEN 'text[]' THEN 'list'
		        WHEN 'smallint' THEN 'number'
		        WHEN 'bigint' THEN 'number'
		        WHEN 'timestamptz' THEN 'time'
		        ELSE 'text' END));
	END;
	RETURN v_out;
END
$$;

-- Sets fields of a locked incident as a person (or the system) asks:
-- known fields only, values checked, and a reason whenever a value that
-- was already there is changed.  Keeps priority in step with impact and
-- urgency.  Returns the number of fields changed.
CREATE OR REPLACE FUNCTION incident_set_locked(p_inc incident, p_actor text,
    p_role text, p_fields jsonb, p_reason text)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
	v_key text;
	v_val jsonb;
	v_field lifecycle_field;
	v_new jsonb;
	v_old jsonb;
	v_n integer := 0;
	v_inc incident;
	v_prio smallint;
BEGIN
	IF p_fields IS NULL OR p_fields = '{}'::jsonb THEN
		RETURN 0;
	END IF;
	IF jsonb_typeof(p_fields) <> 'object' THEN
		PERFORM lifecycle_fail('LC001', p_inc.ref ||
		    ': fields must be given as a JSON object');
	END IF;
	IF p_inc.phase = 'closed' THEN
		PERFORM lifecycle_fail('LC001', format(
		    '%s is closed; its fields no longer change', p_inc.ref));
	END IF;
	FOR v_key, v_val IN SELECT * FROM jsonb_each(p_fields) ORDER BY 1 LOOP
		SELECT * INTO v_field FROM lifecycle_field WHERE field = v_key;
		IF NOT FOUND THEN
			PERFORM lifecycle_fail('LC001', format(
			    '%s: unknown field %L (fields: %s)', p_inc.ref,
			    v_key, (SELECT string_agg(field, ', ' ORDER BY
			        (SELECT seq FROM lifecycle_phase p
			         WHERE p.phase = f.phase), field)
			        FROM lifecycle_field f)));
		END IF;
		v_new := lifecycle_value(p_inc.ref, v_field, v_val);
		v_old := to_jsonb(p_inc) -> v_key;
		IF v_key = 'problem_id' AND lifecycle_given(v_new) AND
		    NOT EXISTS (SELECT 1 FROM problem
		                WHERE id = (v_new #>> '{}')::bigint) THEN
			PERFORM lifecycle_fail('LC001', format(
			    '%s: problem_id: no problem PRB-%s', p_inc.ref,
			    lpad(v_new #>> '{}', 6, '0')));
		END IF;
		IF lifecycle_given(v_old) AND v_old IS DISTINCT FROM v_new AND
		    coalesce(btrim(p_reason), '') = '' AND
		    p_role <> 'system' THEN
			PERFORM lifecycle_fail('LC001', format(
			    '%s: %s is already %s; changing it needs a reason',
			    p_inc.ref, v_key, v_old::text));
		END IF;
		BEGIN
			IF incident_put(p_inc.id, v_key, v_new, p_actor,
			    p_role, p_reason) THEN
				v_n := v_n + 1;
			END IF;
		EXCEPTION WHEN check_violation THEN
			PERFORM lifecycle_fail('LC001', format(
			    '%s: %s: %s is out of range', p_inc.ref, v_key,
			    v_new::text));
		END;
	END LOOP;

	SELECT * INTO v_inc FROM incident WHERE id = p_inc.id;
	-- A recovery time given by hand recovers a manual incident.
	IF v_inc.recovered_at IS NOT NULL AND v_inc.status = 'open' THEN
		PERFORM incident_move(v_inc.id, p_actor, p_role, 'recovered',
		    NULL, NULL, 'recovery time given: ' ||
		    v_inc.recovered_at::text);
		IF v_inc.fault_end IS NULL THEN
			PERFORM incident_put(v_inc.id, 'fault_end',
			    to_jsonb(v_inc.recovered_at), p_actor, p_role,
			    'the recovery time');
		END IF;
	END IF;
	IF v_inc.impact IS NOT NULL AND v_inc.urgency IS NOT NULL THEN
		SELECT priority INTO v_prio FROM priority_matrix
		WHERE impact = v_inc.impact AND urgency = v_inc.urgency;
	END IF;
	IF incident_put(v_inc.id, 'priority', to_jsonb(v_prio), p_actor,
	    p_role, 'impact ' || coalesce(v_inc.impact::text, '-') ||
	    ' x urgency ' || coalesce(v_inc.urgency::text, '-')) THEN
		v_n := v_n + 1;
	END IF;
	RETURN v_n;
END
$$;

-- The one writer of an incident's status and phase, and of the audit row
-- of each move and each event of its life (incident_transition): every
-- change of either goes through here.  p_status and p_phase say where the
-- incident goes (NULL: it stays); with p_opened it has just been created
-- and comes from nowhere.  A change of phase must be one of
-- lifecycle_transition's moves for p_role (incident_advance checks what
-- people must give besides: fields, reasons); a change of status is the
-- system's: open to recovered, or recovered to open when the fault
-- recurred (a reopen).  The caller holds the incident's lock.  Returns the
-- incident as it is now.
CREATE OR REPLACE FUNCTION incident_move(p_id bigint, p_actor text,
    p_role text, p_status text, p_phase text, p_event bigint,
    p_reason text, p_opened boolean DEFAULT false)
RETURNS incident LANGUAGE plpgsql AS $$
DECLARE
	v_inc incident;
	v_from_status text;
	v_from_phase text;
	v_kind text;
BEGIN
	SELECT * INTO v_inc FROM incident WHERE id = p_id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'incident_move: no incident %', p_id;
	END IF;
	v_from_status := v_inc.status;
	v_from_phase := v_inc.phase;
	p_status := coalesce(p_status, v_inc.status);
	p_phase := coalesce(p_phase, v_inc.phase);
	IF NOT p_opened AND p_phase <> v_from_phase THEN
		SELECT kind INTO v_kind FROM lifecycle_transition
		WHERE from_phase = v_from_phase AND to_phase = p_phase
		  AND p_role = ANY (roles);
		IF NOT FOUND THEN
			RAISE EXCEPTION 'incident_move: the % role may not move '
			    '% from % to %', p_role, v_inc.ref, v_from_phase,
			    p_phase;
		END IF;
	END IF;
	IF v_from_status = 'recovered' AND p_status = 'open' THEN
		v_kind := 'reopen';
	END IF;
	IF p_status <> v_from_status OR p_phase <> v_from_phase THEN
		UPDATE incident SET status = p_status, phase = p_phase,
		    updated_at = now(),
		    closed_at = CASE WHEN p_phase = v_from_phase THEN closed_at
		        WHEN p_phase = 'closed' THEN now() END
		WHERE id = p_id
		RETURNING * INTO v_inc;
	END IF;
	INSERT INTO incident_transition (incident_id, actor, role, from_status,
	    to_status, from_phase, to_phase, event_id, reason, kind)
	VALUES (p_id, p_actor, p_role,
	    CASE WHEN p_opened THEN NULL ELSE v_from_status END, p_status,
	    CASE WHEN p_opened THEN NULL ELSE v_from_phase END, p_phase,
	    p_event, coalesce(p_reason, ''), v_kind);
	RETURN v_inc;
END
$$;

-- Sets fields of an incident outside a move.
CREATE OR REPLACE FUNCTION incident_set(p_id bigint, p_actor text, p_role text,
    p_fields jsonb, p_reason text)
RETURNS integer LANGUAGE plpgsql AS $$
BEGIN
	RETURN incident_set_locked(lifecycle_lock(p_id, p_role), p_actor,
	    p_role, p_fields, p_reason);
END
$$;

-- The one function that moves an incident between phases.  p_expect is
-- the phase the caller saw (NULL: whatever it is now): if someone else
-- moved the incident meanwhile, nothing changes and LC002 says who did.
-- Fields given with the move are set first, so a form can be sent whole.
-- Returns the new phase.
CREATE OR REPLACE FUNCTION incident_advance(p_id bigint, p_to text, p_expect text,
    p_actor text, p_role text, p_fields jsonb, p_reason text)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	v_inc incident;
	v_tr lifecycle_transition;
	v_last incident_transition;
	v_missing text[];
	v_next text;
BEGIN
	v_inc := lifecycle_lock(p_id, p_role);
	IF p_expect IS NOT NULL AND v_inc.phase <> p_expect THEN
		SELECT * INTO v_last FROM incident_transition
		WHERE incident_id = p_id ORDER BY id DESC LIMIT 1;
		PERFORM lifecycle_fail('LC002', format(
		    'conflict: %s is now in %s, not %s (last change by %s at '
		    '%s); nothing was changed', v_inc.ref,
		    lifecycle_phase_label(v_inc.phase),
		    lifecycle_phase_label(p_expect), v_last.actor,
		    to_char(v_last.at, 'YYYY-MM-DD HH24:MI:SS')));
	END IF;
	IF NOT EXISTS (SELECT 1 FROM lifecycle_phase WHERE phase = p_to) THEN
		PERFORM lifecycle_fail('LC001', format(
		    'unknown phase %L (phases: %s)', p_to,
		    (SELECT string_agg(phase, ', ' ORDER BY seq)
		     FROM lifecycle_phase)));
	END IF;
	SELECT * INTO v_tr FROM lifecycle_transition
	WHERE from_phase = v_inc.phase AND to_phase = p_to;
	IF NOT FOUND THEN
		SELECT string_agg(to_phase, ', ' ORDER BY
		    (SELECT seq FROM lifecycle_phase WHERE phase = to_phase))
		INTO v_next FROM lifecycle_transition
		WHERE from_phase = v_inc.phase
		  AND (p_role = ANY (roles) OR p_role = 'administrator');
		PERFORM lifecycle_fail(CASE WHEN v_inc.phase = p_to
		    THEN 'LC002' ELSE 'LC001' END, format(
		    '%s: cannot move from %s to %s; from %s it can go to: %s',
		    v_inc.ref, lifecycle_phase_label(v_inc.phase),
		    lifecycle_phase_label(p_to), v_inc.phase,
		    coalesce(v_next, 'nowhere')));
	END IF;
	IF NOT (p_role = ANY (v_tr.roles)) THEN
		PERFORM lifecycle_fail('LC001', format(
		    '%s: the %s role may not move an incident from %s to %s '
		    '(allowed: %s)', v_inc.ref, p_role, v_inc.phase, p_to,
		    array_to_string(v_tr.roles, ', ')));
	END IF;
	IF v_tr.kind <> 'forward' AND coalesce(btrim(p_reason), '') = '' THEN
		PERFORM lifecycle_fail('LC001', format(
		    '%s: moving back from %s to %s needs a reason', v_inc.ref,
		    v_inc.phase, p_to));
	END IF;
	PERFORM incident_set_locked(v_inc, p_actor, p_role, p_fields,
	    p_reason);
	SELECT * INTO v_inc FROM incident WHERE id = p_id;
	IF v_tr.kind = 'forward' THEN
		v_missing := lifecycle_missing(v_inc, v_inc.phase);
		IF cardinality(v_missing) > 0 THEN
			PERFORM lifecycle_fail('LC001', format(
			    '%s: cannot leave %s for %s: missing %s', v_inc.ref,
			    lifecycle_phase_label(v_inc.phase), p_to,
			    array_to_string(v_missing, ', ')));
		END IF;
	END IF;
	PERFORM incident_move(p_id, p_actor, p_role, NULL, p_to, NULL,
	    p_reason);
	RETURN p_to;
END
$$;

-- Acknowledges an incident: someone has taken it.  Returns false when it
-- was acknowledged already (the first acknowledgement stands).
CREATE OR REPLACE FUNCTION incident_ack(p_id bigint, p_actor text, p_role text)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
	v_inc incident;
BEGIN
	v_inc := lifecycle_lock(p_id, p_role);
	IF v_inc.acknowledged_at IS NOT NULL THEN
		RETURN false;
	END IF;
	PERFORM incident_put(p_id, 'acknowledged_at', to_jsonb(now()),
	    p_actor, p_role, 'acknowledged');
	PERFORM incident_put(p_id, 'acknowledged_by', to_jsonb(p_actor),
	    p_actor, p_role, 'acknowledged');
	RETURN true;
END
$$;

-- Assigns an incident to a person, a team or the outsourcer.
CREATE OR REPLACE FUNCTION incident_assign(p_id bigint, p_actor text, p_role text,
    p_assignee text, p_kind text, p_reason text)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	v_inc incident;
BEGIN
	v_inc := lifecycle_lock(p_id, p_role);
	IF p_kind IS NULL OR p_kind NOT IN ('person', 'team', 'outsourcer') THEN
		PERFORM lifecycle_fail('LC001', format(
		    '%s: assign to a person, a team or the outsourcer, not %L',
		    v_inc.ref, p_kind));
	END IF;
	IF coalesce(btrim(p_assignee), '') = '' THEN
		PERFORM lifecycle_fail('LC001', v_inc.ref ||
		    ': assign to whom? the name is empty');
	END IF;
	IF v_inc.phase = 'closed' THEN
		PERFORM lifecycle_fail('LC001', v_inc.ref || ' is closed');
	END IF;
	PERFORM incident_put(p_id, 'assignee', to_jsonb(btrim(p_assignee)),
	    p_actor, p_role, p_reason);
	PERFORM incident_put(p_id, 'assignee_kind', to_jsonb(p_kind), p_actor,
	    p_role, p_reason);
END
$$;

-- Adds a note.  Returns its id.
CREATE OR REPLACE FUNCTION incident_add_note(p_id bigint, p_actor text, p_role text,
    p_body text)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	v_inc incident;
	v_id bigint;
BEGIN
	v_inc := lifecycle_lock(p_id, p_role);
	IF coalesce(btrim(p_body), '') = '' THEN
		PERFORM lifecycle_fail('LC001', v_inc.ref ||
		    ': the note is empty');
	END IF;
	INSERT INTO incident_note (incident_id, actor, role, body)
	VALUES (p_id, p_actor, p_role, p_body) RETURNING id INTO v_id;
	UPDATE incident SET updated_at = now() WHERE id = p_id;
	RETURN v_id;
END
$$;

-- Opens an incident by hand: a department phones in a fault.  It follows
-- the same path as a detected one.  Returns its id.
CREATE OR REPLACE FUNCTION incident_open_manual(p_actor text, p_role text,
    p_summary text, p_host text, p_segment text, p_reported_by text,
    p_fields jsonb)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	v_may boolean;
	v_inc incident;
BEGIN
	SELECT may_change INTO v_may FROM lifecycle_role WHERE role = p_role;
	IF NOT coalesce(v_may, false) OR p_role IN ('system', 'outsourcer')
	THEN
		PERFORM lifecycle_fail('LC001', format(
		    'the %s role may not open incidents', p_role));
	END IF;
	IF coalesce(btrim(p_summary), '') = '' THEN
		PERFORM lifecycle_fail('LC001',
		    'a manual incident needs a summary');
	END IF;
	INSERT INTO incident (dedup_key, host, check_name, segment, severity,
	    summary, source, detected_at, origin, reported_by)
	VALUES ('manual:' || gen_random_uuid(), coalesce(nullif(
	    btrim(p_host), ''), '-'), 'manual', coalesce(nullif(
	    btrim(p_segment), ''), '-'), 'CRITICAL', btrim(p_summary),
	    p_actor, now(), 'manual', nullif(btrim(p_reported_by), ''))
	RETURNING * INTO v_inc;
	PERFORM incident_move(v_inc.id, p_actor, p_role, NULL, NULL, NULL,
	    'opened by hand' || coalesce(', reported by ' ||
	    nullif(btrim(p_reported_by), ''), ''), true);
	PERFORM incident_put(v_inc.id, 'fault_start', to_jsonb(now()),
	    p_actor, p_role, 'reported');
	IF v_inc.host <> '-' THEN
		PERFORM incident_put(v_inc.id, 'suspected_component',
		    to_jsonb(v_inc.host), p_actor, p_role, 'as reported');
	END IF;
	IF v_inc.segment <> '-' THEN
		PERFORM incident_put(v_inc.id, 'suspected_segment',
		    to_jsonb(v_inc.segment), p_actor, p_role, 'as reported');
	END IF;
	PERFORM incident_prefill(v_inc.id, NULL, 'incidentd');
	SELECT * INTO v_inc FROM incident WHERE id = v_inc.id;
	PERFORM incident_set_locked(v_inc, p_actor, p_role, p_fields,
	    'as reported');
	RETURN v_inc.id;
END
$$;

-- incidentd's config: the reopen and problem windows and the service map,
-- replaced whole.
CREATE OR REPLACE FUNCTION lifecycle_configure_services(p_conf jsonb)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	v_s jsonb;
BEGIN
	UPDATE lifecycle_setting SET
	    reopen_window = coalesce((p_conf ->> 'reopen_window')::interval,
	        reopen_window),
	    problem_window = coalesce((p_conf ->> 'problem_window')::interval,
	        problem_window);
	IF p_conf ? 'services' THEN
		DELETE FROM service;
		FOR v_s IN SELECT * FROM jsonb_array_elements(p_conf ->
		    'services') LOOP
			INSERT INTO service (name, title, operator, impact)
			VALUES (v_s ->> 'name', coalesce(v_s ->> 'title',
			    v_s ->> 'name'), coalesce(v_s ->> 'operator',
			    'in-house'), coalesce((v_s ->> 'impact')::smallint,
			    2));
			INSERT INTO service_department (service, department)
			SELECT DISTINCT v_s ->> 'name', d
			FROM jsonb_array_elements_text(coalesce(
			    v_s -> 'departments', '[]')) AS d;
			INSERT INTO service_dependency (service, host,
			    check_name)
			SELECT DISTINCT v_s ->> 'name', x ->> 'host',
			    coalesce(x ->> 'check', '')
			FROM jsonb_array_elements(coalesce(v_s -> 'depends',
			    '[]')) AS x;
		END LOOP;
	END IF;
END
$$;

-- Starts a pause: the incident waits on a party from p_at (NULL: now),
-- which may be given after the fact but not before the detection.  A
-- note records it in the incident's history.  Returns the pause's id.
CREATE OR REPLACE FUNCTION incident_pause_start(p_id bigint, p_party text,
    p_at timestamptz, p_actor text, p_role text, p_reason text)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	v_inc incident;
	v_run incident_pause;
	v_at timestamptz := coalesce(p_at, now());
	v_id bigint;
BEGIN
	v_inc := lifecycle_lock(p_id, p_role);
	IF p_party IS NULL OR p_party NOT IN ('department', 'in-house',
	    'outsourcer') THEN
		PERFORM lifecycle_fail('LC001', format('%s: wait on the '
		    'department, in-house or outsourcer, not %L', v_inc.ref,
		    p_party));
	END IF;
	IF coalesce(btrim(p_reason), '') = '' THEN
		PERFORM lifecycle_fail('LC001', v_inc.ref ||
		    ': a pause needs a reason (--reason)');
	END IF;
	IF v_inc.phase = 'closed' THEN
		PERFORM lifecycle_fail('LC001', v_inc.ref || ' is closed');
	END IF;
	SELECT * INTO v_run FROM incident_pause
	WHERE incident_id = p_id AND ended_at IS NULL;
	IF FOUND THEN
		PERFORM lifecycle_fail('LC001', format('%s is already paused '
		    'since %s, waiting on the %s', v_inc.ref,
		    to_char(v_run.started_at, 'YYYY-MM-DD HH24:MI'),
		    v_run.party));
	END IF;
	IF v_at < v_inc.detected_at OR v_at > now() THEN
		PERFORM lifecycle_fail('LC001', format('%s: a pause starts '
		    'between its detection (%s) and now', v_inc.ref,
		    to_char(v_inc.detected_at, 'YYYY-MM-DD HH24:MI')));
	END IF;
	IF EXISTS (SELECT 1 FROM incident_pause WHERE incident_id = p_id
	           AND ended_at > v_at) THEN
		PERFORM lifecycle_fail('LC001', v_inc.ref ||
		    ': the pause would overlap an earlier one');
	END IF;
	INSERT INTO incident_pause (incident_id, party, started_at, reason)
	VALUES (p_id, p_party, v_at, p_reason) RETURNING id INTO v_id;
	PERFORM incident_add_note(p_id, p_actor, p_role, format(
	    'paused from %s, waiting on the %s: %s',
	    to_char(v_at, 'YYYY-MM-DD HH24:MI'), p_party, p_reason));
	RETURN v_id;
END
$$;

-- Ends the running pause at p_at (NULL: now).  Returns how long it was.
CREATE OR REPLACE FUNCTION incident_pause_end(p_id bigint, p_at timestamptz,
    p_actor text, p_role text)
RETURNS interval LANGUAGE plpgsql AS $$
DECLARE
	v_inc incident;
	v_run incident_pause;
	v_at timestamptz := coalesce(p_at, now());
BEGIN
	v_inc := lifecycle_lock(p_id, p_role);
	SELECT * INTO v_run FROM incident_pause
	WHERE incident_id = p_id AND ended_at IS NULL FOR UPDATE;
	IF NOT FOUND THEN
		PERFORM lifecycle_fail('LC001', v_inc.ref || ' is not paused');
	END IF;
	IF v_at <= v_run.started_at OR v_at > now() THEN
		PERFORM lifecycle_fail('LC001', format('%s: the pause ends '
		    'after its start (%s) and by now', v_inc.ref,
		    to_char(v_run.started_at, 'YYYY-MM-DD HH24:MI')));
	END IF;
	UPDATE incident_pause SET ended_at = v_at WHERE id = v_run.id;
	PERFORM incident_add_note(p_id, p_actor, p_role, format(
	    'resumed at %s after waiting %s on the %s',
	    to_char(v_at, 'YYYY-MM-DD HH24:MI'),
	    to_char(v_at - v_run.started_at, 'HH24:MI'), v_run.party));
	RETURN v_at - v_run.started_at;
END
$$;
