-- Problem records: the cause behind incidents and its permanent fix.

-- A problem that recent incidents of the same fault or service were
-- linked to, suggested to a new incident.
CREATE OR REPLACE FUNCTION incident_suggest_problem(p_id bigint)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	v_inc incident;
	v_problem bigint;
BEGIN
	SELECT * INTO v_inc FROM incident WHERE id = p_id;
	SELECT i.problem_id INTO v_problem
	FROM incident i JOIN problem p ON p.id = i.problem_id
	WHERE i.id <> p_id AND p.status <> 'closed'
	  AND i.detected_at >= v_inc.detected_at -
	      (SELECT problem_window FROM lifecycle_setting)
	  AND (i.dedup_key = v_inc.dedup_key OR
	       i.affected_services && v_inc.affected_services)
	ORDER BY (i.dedup_key = v_inc.dedup_key) DESC, i.detected_at DESC
	LIMIT 1;
	IF v_problem IS NOT NULL THEN
		UPDATE incident SET suggested_problem_id = v_problem
		WHERE id = p_id;
	END IF;
END
$$;

-- Problems: create, change.  Returns the problem's id.
CREATE OR REPLACE FUNCTION problem_save(p_id bigint, p_actor text, p_role text,
    p_fields jsonb, p_reason text)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	v_p problem;
	v_key text;
	v_val jsonb;
	v_old jsonb;
	v_may boolean;
BEGIN
	SELECT may_change INTO v_may FROM lifecycle_role WHERE role = p_role;
	IF NOT coalesce(v_may, false) THEN
		PERFORM lifecycle_fail('LC001', format(
		    'the %s role may not change problems', p_role));
	END IF;
	IF p_id IS NULL THEN
		IF coalesce(btrim(p_fields ->> 'title'), '') = '' THEN
			PERFORM lifecycle_fail('LC001',
			    'a problem needs a title');
		END IF;
		INSERT INTO problem (title, created_by)
		VALUES (btrim(p_fields ->> 'title'), p_actor)
		RETURNING * INTO v_p;
		INSERT INTO problem_change (problem_id, actor, role, field,
		    old_value, new_value, reason)
		VALUES (v_p.id, p_actor, p_role, 'title', NULL,
		    to_jsonb(v_p.title), coalesce(p_reason, 'created'));
	ELSE
		SELECT * INTO v_p FROM problem WHERE id = p_id FOR UPDATE;
		IF NOT FOUND THEN
			PERFORM lifecycle_fail('LC003', format(
			    'no problem PRB-%s', lpad(p_id::text, 6, '0')));
		END IF;
	END IF;
	FOR v_key, v_val IN SELECT * FROM jsonb_each(coalesce(p_fields, '{}'))
	    ORDER BY 1 LOOP
		IF v_key NOT IN ('title', 'status', 'root_cause', 'workaround',
		    'permanent_fix', 'due') THEN
			PERFORM lifecycle_fail('LC001', format(
			    '%s: unknown field %L (fields: title, status, '
			    'root_cause, workaround, permanent_fix, due)',
			    v_p.ref, v_key));
		END IF;
		v_old := to_jsonb(v_p) -> v_key;
		IF v_old IS NOT DISTINCT FROM v_val THEN
			CONTINUE;
		END IF;
		BEGIN
			EXECUTE format('UPDATE problem SET %I = '
			    '(jsonb_populate_record(NULL::problem, $1)).%I, '
			    'updated_at = now() WHERE id = $2', v_key, v_key)
			USING jsonb_build_object(v_key, v_val), v_p.id;
		EXCEPTION WHEN OTHERS THEN
			PERFORM lifecycle_fail('LC001', format(
			    '%s: %s: %s is not allowed (%s)', v_p.ref, v_key,
			    v_val::text, SQLERRM));
		END;
		INSERT INTO problem_change (problem_id, actor, role, field,
		    old_value, new_value, reason)
		VALUES (v_p.id, p_actor, p_role, v_key, v_old, v_val,
		    coalesce(p_reason, ''));
	END LOOP;
	RETURN v_p.id;
END
$$;

-- GET /api/v1/problems and /api/v1/problems/{id}.
CREATE OR REPLACE FUNCTION problem_json(p problem, p_role text, p_detail boolean)
RETURNS jsonb LANGUAGE sql STABLE AS $$
	SELECT jsonb_build_object('id', p.id, 'ref', p.ref,
	    'title', p.title, 'status', p.status,
	    'root_cause', p.root_cause, 'workaround', p.workaround,
	    'permanent_fix', p.permanent_fix, 'due', p.due,
	    'created_at', p.created_at, 'created_by', p.created_by,
	    'updated_at', p.updated_at,
	    'incidents', (SELECT coalesce(jsonb_agg(incident_brief(i)
	        ORDER BY i.id), '[]') FROM incident i
	        WHERE i.problem_id = p.id AND incident_visible(i, p_role)))
	    || CASE WHEN p_detail THEN jsonb_build_object('history',
	        (SELECT coalesce(jsonb_agg(jsonb_build_object('at', c.at,
	            'actor', c.actor, 'role', c.role, 'field', c.field,
	            'from', c.old_value, 'to', c.new_value,
	            'reason', c.reason) ORDER BY c.at, c.id), '[]')
	         FROM problem_change c WHERE c.problem_id = p.id))
	    ELSE '{}' END
$$;
