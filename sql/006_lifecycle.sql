-- 006: the incident lifecycle.  Every fault goes through detection, first
-- isolation, impact assessment, countermeasure and recovery, fault record,
-- permanent fix and manual update to closed.  The phases, the moves between
-- them with the roles allowed to make them, the fields each phase needs and
-- the priority matrix are tables, not code.  Every change goes through the
-- functions below, which check it and write an append-only audit row in the
-- same transaction; incidentd and incidentctl both call them.
--
-- Errors raised here carry their own SQLSTATE so that callers can tell them
-- apart: LC001 refused (illegal move, missing field, bad value, role),
-- LC002 conflict (someone else changed the incident first), LC003 no such
-- incident or problem.

CREATE TABLE lifecycle_phase (
	phase   text PRIMARY KEY,
	seq     smallint NOT NULL UNIQUE,
	name_ja text NOT NULL,
	name_en text NOT NULL
);
INSERT INTO lifecycle_phase VALUES
	('detection',     1, '障害検知',         'detection'),
	('isolation',     2, '一次切り分け',     'first isolation'),
	('impact',        3, '影響範囲見極め',   'impact assessment'),
	('recovery',      4, '対処法検討と復旧', 'countermeasure and recovery'),
	('record',        5, '障害記録',         'fault record'),
	('permanent_fix', 6, '恒久措置検討',     'permanent fix'),
	('manual_update', 7, 'マニュアル整備',   'manual update'),
	('closed',        8, '完了',             'closed');

-- Who may act: 'system' is incidentd itself; viewers may only read.
CREATE TABLE lifecycle_role (
	role        text PRIMARY KEY,
	may_change  boolean NOT NULL,
	description text NOT NULL
);
INSERT INTO lifecycle_role VALUES
	('system',        true,  'incidentd, from what monitord reports'),
	('administrator', true,  'IT department staff who approve and close'),
	('operator',      true,  'IT department operators (当番)'),
	('outsourcer',    true,  'the outsourcer, on incidents assigned to it'),
	('viewer',        false, 'may read, never change');

-- The allowed moves.  forward: to the next phase once the current one's
-- fields are filled; back: a correction, with a reason; reopen: the fault
-- came back after its recovery.
CREATE TABLE lifecycle_transition (
	from_phase text NOT NULL REFERENCES lifecycle_phase,
	to_phase   text NOT NULL REFERENCES lifecycle_phase,
	kind       text NOT NULL CHECK (kind IN ('forward', 'back', 'reopen')),
	roles      text[] NOT NULL,
	PRIMARY KEY (from_phase, to_phase)
);
INSERT INTO lifecycle_transition VALUES
	('detection',     'isolation',     'forward',
	    '{operator,outsourcer,administrator}'),
	('isolation',     'impact',        'forward',
	    '{operator,outsourcer,administrator}'),
	('impact',        'recovery',      'forward',
	    '{operator,outsourcer,administrator}'),
	('recovery',      'record',        'forward',
	    '{operator,outsourcer,administrator}'),
	('record',        'permanent_fix', 'forward',
	    '{operator,administrator}'),
	('permanent_fix', 'manual_update', 'forward',
	    '{operator,administrator}'),
	('manual_update', 'closed',        'forward', '{administrator}'),
	('isolation',     'detection',     'back',
	    '{operator,administrator}'),
	('impact',        'isolation',     'back',
	    '{operator,administrator}'),
	('recovery',      'impact',        'back',
	    '{operator,administrator}'),
	-- also the way back when the fault recurs (the system reopens)
	('record',        'recovery',      'back',
	    '{operator,administrator,system}'),
	('permanent_fix', 'record',        'back',
	    '{operator,administrator}'),
	('manual_update', 'permanent_fix', 'back',
	    '{operator,administrator}'),
	('permanent_fix', 'recovery',      'reopen',
	    '{system,administrator}'),
	('manual_update', 'recovery',      'reopen',
	    '{system,administrator}'),
	('closed',        'recovery',      'reopen',
	    '{system,administrator}');

-- The impact x urgency matrix (1 = high); priority 1 is the most urgent.
CREATE TABLE priority_matrix (
	impact   smallint NOT NULL CHECK (impact BETWEEN 1 AND 3),
	urgency  smallint NOT NULL CHECK (urgency BETWEEN 1 AND 3),
	priority smallint NOT NULL CHECK (priority BETWEEN 1 AND 5),
	PRIMARY KEY (impact, urgency)
);
INSERT INTO priority_matrix VALUES
	(1, 1, 1), (1, 2, 2), (1, 3, 3),
	(2, 1, 2), (2, 2, 3), (2, 3, 4),
	(3, 1, 3), (3, 2, 4), (3, 3, 5);

-- Problem records: the cause behind one or more incidents and its
-- permanent fix.
CREATE TABLE problem (
	id            bigserial PRIMARY KEY,
	ref           text GENERATED ALWAYS AS
	                  ('PRB-' || lpad(id::text, 6, '0')) STORED,
	title         text NOT NULL CHECK (title <> ''),
	status        text NOT NULL DEFAULT 'open'
	                  CHECK (status IN ('open', 'known_error', 'resolved',
	                                    'closed')),
	root_cause    text,
	workaround    text,
	permanent_fix text,
	due           date,
	created_at    timestamptz NOT NULL DEFAULT now(),
	created_by    text NOT NULL,
	updated_at    timestamptz NOT NULL DEFAULT now()
);

-- The lifecycle's fields on the incident.
ALTER TABLE incident
	ADD CONSTRAINT incident_phase_known FOREIGN KEY (phase)
	    REFERENCES lifecycle_phase,
	ADD COLUMN origin text NOT NULL DEFAULT 'monitord'
	    CHECK (origin IN ('monitord', 'manual')),
	ADD COLUMN reported_by text,
	ADD COLUMN suspected_component text,
	ADD COLUMN suspected_segment text,
	ADD COLUMN affected_services text[],
	ADD COLUMN affected_departments text[],
	ADD COLUMN impact smallint CHECK (impact BETWEEN 1 AND 3),
	ADD COLUMN urgency smallint CHECK (urgency BETWEEN 1 AND 3),
	ADD COLUMN priority smallint CHECK (priority BETWEEN 1 AND 5),
	ADD COLUMN countermeasure text,
	ADD COLUMN cause text,
	ADD COLUMN action text,
	ADD COLUMN fault_start timestamptz,
	ADD COLUMN fault_end timestamptz,
	ADD COLUMN problem_id bigint REFERENCES problem,
	ADD COLUMN fix_waiver text,
	ADD COLUMN manual_doc text,
	ADD COLUMN manual_rev text,
	ADD COLUMN manual_waiver text,
	ADD COLUMN suggested_problem_id bigint REFERENCES problem,
	ADD COLUMN acknowledged_at timestamptz,
	ADD COLUMN acknowledged_by text,
	ADD COLUMN assignee text,
	ADD COLUMN assignee_kind text
	    CHECK (assignee_kind IN ('person', 'team', 'outsourcer')),
	ADD COLUMN reopen_count integer NOT NULL DEFAULT 0,
	ADD COLUMN closed_at timestamptz,
	ADD CONSTRAINT incident_fault_order
	    CHECK (fault_end IS NULL OR fault_start IS NULL
	           OR fault_end >= fault_start);
CREATE INDEX incident_problem ON incident (problem_id)
	WHERE problem_id IS NOT NULL;
CREATE INDEX incident_host_open ON incident (host) WHERE status = 'open';
CREATE INDEX incident_key_recovered ON incident (dedup_key, recovered_at)
	WHERE status = 'recovered';

-- The fields people (and the system) may set, the phase whose form shows
-- them, and their type.
CREATE TABLE lifecycle_field (
	field    text PRIMARY KEY,
	phase    text NOT NULL REFERENCES lifecycle_phase,
	type     text NOT NULL CHECK (type IN ('text', 'text[]', 'smallint',
	                                       'bigint', 'timestamptz')),
	label_ja text NOT NULL,
	label_en text NOT NULL
);
INSERT INTO lifecycle_field VALUES
	('summary',              'detection',     'text', '件名', 'summary'),
	('suspected_component',  'isolation',     'text', '被疑箇所',
	    'suspected component'),
	('suspected_segment',    'isolation',     'text', '被疑セグメント',
	    'suspected segment'),
	('affected_services',    'impact',        'text[]', '影響業務',
	    'affected services'),
	('affected_departments', 'impact',        'text[]', '影響部署',
	    'affected departments'),
	('impact',               'impact',        'smallint', '影響度',
	    'impact'),
	('urgency',              'impact',        'smallint', '緊急度',
	    'urgency'),
	('countermeasure',       'recovery',      'text', '対処内容',
	    'countermeasure'),
	('recovered_at',         'recovery',      'timestamptz', '復旧日時',
	    'recovery time'),
	('cause',                'record',        'text', '原因', 'cause'),
	('action',               'record',        'text', '処置', 'action'),
	('fault_start',          'record',        'timestamptz', '障害発生日時',
	    'fault start'),
	('fault_end',            'record',        'timestamptz', '障害終了日時',
	    'fault end'),
	('problem_id',           'permanent_fix', 'bigint', '問題管理番号',
	    'problem'),
	('fix_waiver',           'permanent_fix', 'text', '恒久措置不要の理由',
	    'permanent fix waiver'),
	('manual_doc',           'manual_update', 'text', 'マニュアル文書',
	    'manual document'),
	('manual_rev',           'manual_update', 'text', 'マニュアル版数',
	    'manual revision'),
	('manual_waiver',        'manual_update', 'text',
	    'マニュアル改訂不要の理由', 'manual update waiver');

-- What a phase needs before the incident may leave it forward: all of
-- fields, or else all of alt_fields.
CREATE TABLE lifecycle_requirement (
	phase      text NOT NULL REFERENCES lifecycle_phase,
	fields     text[] NOT NULL,
	alt_fields text[],
	PRIMARY KEY (phase, fields)
);
INSERT INTO lifecycle_requirement VALUES
	('isolation',     '{suspected_component}', NULL),
	('isolation',     '{suspected_segment}', NULL),
	('impact',        '{affected_services}', NULL),
	('impact',        '{affected_departments}', NULL),
	('impact',        '{impact}', NULL),
	('impact',        '{urgency}', NULL),
	('recovery',      '{countermeasure}', NULL),
	('recovery',      '{recovered_at}', NULL),
	('record',        '{cause}', NULL),
	('record',        '{action}', NULL),
	('record',        '{fault_start}', NULL),
	('record',        '{fault_end}', NULL),
	('permanent_fix', '{problem_id}', '{fix_waiver}'),
	('manual_update', '{manual_doc,manual_rev}', '{manual_waiver}');

-- Audit: every field change, who, when, old, new and why.
CREATE TABLE incident_field_change (
	id          bigserial PRIMARY KEY,
	incident_id bigint NOT NULL REFERENCES incident (id),
	at          timestamptz NOT NULL DEFAULT clock_timestamp(),
	actor       text NOT NULL,
	role        text NOT NULL,
	field       text NOT NULL,
	old_value   jsonb,
	new_value   jsonb,
	reason      text NOT NULL DEFAULT ''
);
CREATE INDEX incident_field_change_incident
	ON incident_field_change (incident_id);

-- The moves' clock is the statement's, like the field changes', so that a
-- history orders a move after the fields set with it.
ALTER TABLE incident_transition
	ADD COLUMN role text NOT NULL DEFAULT 'system',
	ADD COLUMN kind text,
	ALTER COLUMN at SET DEFAULT clock_timestamp();

-- Notes on an incident, append-only like the audit.
CREATE TABLE incident_note (
	id          bigserial PRIMARY KEY,
	incident_id bigint NOT NULL REFERENCES incident (id),
	at          timestamptz NOT NULL DEFAULT clock_timestamp(),
	actor       text NOT NULL,
	role        text NOT NULL,
	body        text NOT NULL CHECK (body <> '')
);
CREATE INDEX incident_note_incident ON incident_note (incident_id);

-- Changes of problem records.
CREATE TABLE problem_change (
	id         bigserial PRIMARY KEY,
	problem_id bigint NOT NULL REFERENCES problem (id),
	at         timestamptz NOT NULL DEFAULT clock_timestamp(),
	actor      text NOT NULL,
	role       text NOT NULL,
	field      text NOT NULL,
	old_value  jsonb,
	new_value  jsonb,
	reason     text NOT NULL DEFAULT ''
);

CREATE TRIGGER incident_field_change_append_only
	BEFORE UPDATE OR DELETE ON incident_field_change
	FOR EACH ROW EXECUTE FUNCTION forbid_change();
CREATE TRIGGER incident_note_append_only
	BEFORE UPDATE OR DELETE ON incident_note
	FOR EACH ROW EXECUTE FUNCTION forbid_change();
CREATE TRIGGER problem_change_append_only
	BEFORE UPDATE OR DELETE ON problem_change
	FOR EACH ROW EXECUTE FUNCTION forbid_change();
-- TRUNCATE skips row triggers: refuse it too.
CREATE TRIGGER incident_transition_no_truncate
	BEFORE TRUNCATE ON incident_transition
	FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();
CREATE TRIGGER incident_field_change_no_truncate
	BEFORE TRUNCATE ON incident_field_change
	FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();
CREATE TRIGGER incident_note_no_truncate
	BEFORE TRUNCATE ON incident_note
	FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();
CREATE TRIGGER problem_change_no_truncate
	BEFORE TRUNCATE ON problem_change
	FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();

-- A storm behind one failed parent is one root incident with its children
-- attached: the checks that were unreachable or suppressed because of it.
CREATE TABLE incident_child (
	incident_id  bigint NOT NULL REFERENCES incident (id),
	host         text NOT NULL,
	check_name   text NOT NULL,
	state        text NOT NULL,
	host_state   text,
	attached_at  timestamptz NOT NULL DEFAULT now(),
	event_id     bigint REFERENCES state_event (id),
	recovered_at timestamptz,
	PRIMARY KEY (incident_id, host, check_name)
);
CREATE INDEX incident_child_open ON incident_child (host, check_name)
	WHERE recovered_at IS NULL;

-- The service map: business services, what they depend on, who uses them
-- and who operates them.  incidentd replaces it from its config.
CREATE TABLE service (
	name       text PRIMARY KEY,
	title      text NOT NULL,
	operator   text NOT NULL CHECK (operator IN ('in-house', 'outsourcer')),
	-- the impact of its failure, as in priority_matrix (1 = high)
	impact     smallint NOT NULL DEFAULT 2 CHECK (impact BETWEEN 1 AND 3),
	updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE service_department (
	service    text NOT NULL REFERENCES service ON DELETE CASCADE,
	department text NOT NULL,
	PRIMARY KEY (service, department)
);
-- check_name '' means any check of the host.
CREATE TABLE service_dependency (
	service    text NOT NULL REFERENCES service ON DELETE CASCADE,
	host       text NOT NULL,
	check_name text NOT NULL DEFAULT '',
	PRIMARY KEY (service, host, check_name)
);
CREATE INDEX service_dependency_host ON service_dependency (host);

-- Settings of the lifecycle that incidentd's config sets.
CREATE TABLE lifecycle_setting (
	id             boolean PRIMARY KEY DEFAULT true CHECK (id),
	reopen_window  interval NOT NULL DEFAULT '1 hour',
	problem_window interval NOT NULL DEFAULT '30 days'
);
INSERT INTO lifecycle_setting DEFAULT VALUES;

CREATE FUNCTION lifecycle_fail(p_code text, p_msg text)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION USING ERRCODE = p_code, MESSAGE = p_msg;
END
$$;

-- "isolation (一次切り分け)" for messages.
CREATE FUNCTION lifecycle_phase_label(p_phase text)
RETURNS text LANGUAGE sql STABLE AS $$
	SELECT coalesce((SELECT phase || ' (' || name_ja || ')'
	    FROM lifecycle_phase WHERE phase = p_phase), p_phase)
$$;

-- Whether a field's value counts as given: empty text or lists do not.
CREATE FUNCTION lifecycle_given(p_value jsonb)
RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
	SELECT p_value IS NOT NULL AND p_value <> 'null'::jsonb
	   AND p_value <> '""'::jsonb AND p_value <> '[]'::jsonb
$$;

-- The requirements of a phase the incident does not meet yet, as text:
-- "cause, action", "problem_id or fix_waiver".
CREATE FUNCTION lifecycle_missing(p_inc incident, p_phase text)
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
CREATE FUNCTION lifecycle_lock(p_id bigint, p_role text)
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
CREATE FUNCTION incident_put(p_id bigint, p_field text, p_value jsonb,
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
CREATE FUNCTION lifecycle_value(p_ref text, p_field lifecycle_field,
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
CREATE FUNCTION incident_set_locked(p_inc incident, p_actor text,
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
		UPDATE incident SET status = 'recovered' WHERE id = v_inc.id;
		INSERT INTO incident_transition (incident_id, actor, role,
		    from_status, to_status, from_phase, to_phase, reason, kind)
		VALUES (v_inc.id, p_actor, p_role, 'open', 'recovered',
		    v_inc.phase, v_inc.phase,
		    'recovery time given: ' || v_inc.recovered_at::text, NULL);
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

-- Sets fields of an incident outside a move.
CREATE FUNCTION incident_set(p_id bigint, p_actor text, p_role text,
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
CREATE FUNCTION incident_advance(p_id bigint, p_to text, p_expect text,
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
	UPDATE incident SET phase = p_to, updated_at = now(),
	    closed_at = CASE WHEN p_to = 'closed' THEN now() END
	WHERE id = p_id;
	INSERT INTO incident_transition (incident_id, actor, role, from_status,
	    to_status, from_phase, to_phase, reason, kind)
	VALUES (p_id, p_actor, p_role, v_inc.status, v_inc.status, v_inc.phase,
	    p_to, coalesce(p_reason, ''), v_tr.kind);
	RETURN p_to;
END
$$;

-- Acknowledges an incident: someone has taken it.  Returns false when it
-- was acknowledged already (the first acknowledgement stands).
CREATE FUNCTION incident_ack(p_id bigint, p_actor text, p_role text)
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
CREATE FUNCTION incident_assign(p_id bigint, p_actor text, p_role text,
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
CREATE FUNCTION incident_add_note(p_id bigint, p_actor text, p_role text,
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

-- The services an incident touches through its host, its check and its
-- attached children, with their departments; filled by the system while
-- no person has set them.
CREATE FUNCTION incident_fill_impact(p_id bigint, p_actor text)
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

-- A problem that recent incidents of the same fault or service were
-- linked to, suggested to a new incident.
CREATE FUNCTION incident_suggest_problem(p_id bigint)
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

-- Attaches to a root incident the checks that its host's failure covers.
CREATE FUNCTION incident_attach_children(p_id bigint)
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
CREATE FUNCTION incident_prefill(p_id bigint, p_ev state_event,
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

-- Opens an incident by hand: a department phones in a fault.  It follows
-- the same path as a detected one.  Returns its id.
CREATE FUNCTION incident_open_manual(p_actor text, p_role text,
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
	INSERT INTO incident_transition (incident_id, actor, role,
	    from_status, to_status, from_phase, to_phase, reason, kind)
	VALUES (v_inc.id, p_actor, p_role, NULL, 'open', NULL, 'detection',
	    'opened by hand' || coalesce(', reported by ' ||
	    nullif(btrim(p_reported_by), ''), ''), NULL);
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

-- Problems: create, change.  Returns the problem's id.
CREATE FUNCTION problem_save(p_id bigint, p_actor text, p_role text,
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

-- incidentd's config: the reopen and problem windows and the service map,
-- replaced whole.
CREATE FUNCTION lifecycle_configure(p_conf jsonb)
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

-- A recurrence may come back to the incident it recovered from, so the
-- same kind of message can go out again in a later round.
ALTER TABLE notification ADD COLUMN round integer NOT NULL DEFAULT 0;
ALTER TABLE notification
	DROP CONSTRAINT notification_incident_id_kind_channel_recipient_key;
ALTER TABLE notification ADD CONSTRAINT notification_once
	UNIQUE (incident_id, kind, round, channel, recipient);

CREATE OR REPLACE FUNCTION notification_queue(p_inc incident,
    p_ev state_event, p_kind text, p_recipients jsonb)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
	v_n integer;
BEGIN
	INSERT INTO notification (incident_id, kind, round, channel,
	    recipient, recipient_name, lang, facts)
	SELECT p_inc.id, p_kind, p_inc.reopen_count, 'email', r->>'email',
	    coalesce(r->>'name', ''), coalesce(r->>'lang', 'ja'),
	    incident_facts(p_inc, p_ev) || jsonb_build_object('round',
	        p_inc.reopen_count, 'children', (SELECT count(*)
	        FROM incident_child WHERE incident_id = p_inc.id))
	FROM jsonb_array_elements(coalesce(p_recipients, '[]'::jsonb)) AS r
	ON CONFLICT (incident_id, kind, round, channel, recipient)
	DO NOTHING;
	GET DIAGNOSTICS v_n = ROW_COUNT;
	RETURN v_n;
END
$$;

-- As in 004, with the lifecycle: a covered problem is attached to its
-- root's incident; a fault that comes back within the reopen window
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
	v_from text;
	v_to text;
BEGIN
	SELECT * INTO v_inc FROM incident
	WHERE dedup_key = v_key AND status = 'open' FOR UPDATE;

	IF p_ev.new_state <> 'OK' OR p_ev.flapping IS TRUE THEN
		IF FOUND THEN
			IF v_inc.severity <> v_sev THEN
				INSERT INTO incident_transition (incident_id,
				    actor, from_status, to_status, from_phase,
				    to_phase, event_id, reason)
				VALUES (v_inc.id, p_actor, 'open', 'open',
				    v_inc.phase, v_inc.phase, p_ev.id,
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
			v_from := v_inc.phase;
			v_to := CASE WHEN (SELECT seq FROM lifecycle_phase
			    WHERE phase = v_inc.phase) > 4 THEN 'recovery'
			    ELSE v_inc.phase END;
			PERFORM incident_put(v_inc.id, 'recovered_at', 'null',
			    p_actor, 'system', 'recurred');
			UPDATE incident SET status = 'open', phase = v_to,
			    severity = v_sev, recover_event_id = NULL,
			    closed_at = NULL,
			    reopen_count = reopen_count + 1,
			    updated_at = now()
			WHERE id = v_inc.id
			RETURNING * INTO v_inc;
			INSERT INTO incident_transition (incident_id, actor,
			    role, from_status, to_status, from_phase, to_phase,
			    event_id, reason, kind)
			SELECT v_inc.id, p_actor, 'system', 'recovered', 'open',
			    v_from, v_to, p_ev.id,
			    'recurred within ' || s.reopen_window::text ||
			        ' of its recovery: ' || p_ev.output,
			    'reopen'
			FROM lifecycle_setting s;
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
		INSERT INTO incident_transition (incident_id, actor, from_status,
		    to_status, from_phase, to_phase, event_id, reason)
		VALUES (v_inc.id, p_actor, NULL, 'open', NULL, 'detection',
		    p_ev.id,
		    'detected by ' || p_ev.source || ': ' || p_ev.output);
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
