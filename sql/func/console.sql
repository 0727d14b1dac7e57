-- The console's API: every endpoint but the session ones is one call of
-- api_call(actor, role, op, args), so that who may see and do what is
-- decided here, next to the data.

-- Whether a role may see an incident: the outsourcer's accounts see only
-- the incidents assigned to the outsourcer.
CREATE OR REPLACE FUNCTION incident_visible(p_inc incident, p_role text)
RETURNS boolean LANGUAGE sql STABLE AS $$
	SELECT p_role <> 'outsourcer'
	    OR coalesce(p_inc.assignee_kind = 'outsourcer', false)
$$;

-- Whether a role may see a host: the outsourcer sees the hosts of the
-- services it operates and of its incidents.
CREATE OR REPLACE FUNCTION host_visible(p_host text, p_role text)
RETURNS boolean LANGUAGE sql STABLE AS $$
	SELECT p_role <> 'outsourcer'
	    OR EXISTS (SELECT 1 FROM service_dependency d
	        JOIN service s ON s.name = d.service
	        WHERE d.host = p_host AND s.operator = 'outsourcer')
	    OR EXISTS (SELECT 1 FROM incident i WHERE i.host = p_host
	        AND i.assignee_kind = 'outsourcer' AND i.phase <> 'closed')
$$;

-- A string argument; NULL when absent, LC005 when it is not a string.
CREATE OR REPLACE FUNCTION api_text(p_args jsonb, p_key text, p_needed boolean)
RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
	v jsonb := p_args -> p_key;
BEGIN
	IF v IS NULL OR v = 'null'::jsonb THEN
		IF p_needed THEN
			PERFORM lifecycle_fail('LC005', p_key || ' is needed');
		END IF;
		RETURN NULL;
	END IF;
	IF jsonb_typeof(v) <> 'string' THEN
		PERFORM lifecycle_fail('LC005', p_key || ' must be a string');
	END IF;
	RETURN v #>> '{}';
END
$$;

-- A whole-number argument, given as a number or as digits (from a path or
-- a query string); NULL when absent.
CREATE OR REPLACE FUNCTION api_int(p_args jsonb, p_key text, p_needed boolean,
    p_min bigint, p_max bigint)
RETURNS bigint LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
	v jsonb := p_args -> p_key;
	t text;
	n bigint;
BEGIN
	IF v IS NULL OR v = 'null'::jsonb THEN
		IF p_needed THEN
			PERFORM lifecycle_fail('LC005', p_key || ' is needed');
		END IF;
		RETURN NULL;
	END IF;
	t := v #>> '{}';
	IF jsonb_typeof(v) NOT IN ('string', 'number')
	    OR t !~ '^[0-9]{1,18}$' THEN
		PERFORM lifecycle_fail('LC005', p_key || ' must be a number');
	END IF;
	n := t::bigint;
	IF n < p_min OR n > p_max THEN
		PERFORM lifecycle_fail('LC005', format(
		    '%s must be between %s and %s', p_key, p_min, p_max));
	END IF;
	RETURN n;
END
$$;

-- A JSON object argument; '{}' when absent.
CREATE OR REPLACE FUNCTION api_object(p_args jsonb, p_key text)
RETURNS jsonb LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
	IF p_args -> p_key IS NULL OR p_args -> p_key = 'null'::jsonb THEN
		RETURN '{}';
	END IF;
	IF jsonb_typeof(p_args -> p_key) <> 'object' THEN
		PERFORM lifecycle_fail('LC005', p_key || ' must be an object');
	END IF;
	RETURN p_args -> p_key;
END
$$;

-- A time argument.
CREATE OR REPLACE FUNCTION api_time(p_args jsonb, p_key text, p_needed boolean)
RETURNS timestamptz LANGUAGE plpgsql STABLE AS $$
DECLARE
	t text := api_text(p_args, p_key, p_needed);
BEGIN
	RETURN t::timestamptz;
EXCEPTION WHEN data_exception THEN
	PERFORM lifecycle_fail('LC005', p_key ||
	    ' must be a time such as 2026-11-27T10:00+09:00');
	RETURN NULL;
END
$$;

-- The incident of an id argument, locked by nobody, if the role may see
-- it; LC003 otherwise, so that an outsourcer cannot tell another
-- incident from none.
CREATE OR REPLACE FUNCTION api_incident_row(p_role text, p_args jsonb)
RETURNS incident LANGUAGE plpgsql STABLE AS $$
DECLARE
	v_inc incident;
	v_id bigint := api_int(p_args, 'id', true, 1, 999999999999);
BEGIN
	SELECT * INTO v_inc FROM incident WHERE id = v_id;
	IF NOT FOUND OR NOT incident_visible(v_inc, p_role) THEN
		PERFORM lifecycle_fail('LC003',
		    format('no incident INC-%s', lpad(v_id::text, 6, '0')));
	END IF;
	RETURN v_inc;
END
$$;

-- The SLA clocks of an incident now: for each agreement of the services
-- it affects, the time to acknowledge and to restore so far, in the
-- agreement's business time less its pauses, against the targets.
CREATE OR REPLACE FUNCTION incident_clocks(p_id bigint)
RETURNS jsonb LANGUAGE sql STABLE AS $$
	SELECT coalesce(jsonb_agg(jsonb_build_object(
	    'agreement', a.name, 'kind', a.kind, 'party', a.party,
	    'tto_s', round(f.tto_s::numeric),
	    'tto_target_s', f.tto_target_s,
	    'ttr_s', round(f.ttr_s::numeric),
	    'ttr_target_s', f.ttr_target_s,
	    'acknowledged', i.acknowledged_at IS NOT NULL,
	    'restored', coalesce(i.fault_end, i.recovered_at) IS NOT NULL)
	    ORDER BY a.kind DESC, a.name), '[]')
	FROM incident i
	JOIN agreement a ON a.service = ANY (i.affected_services)
	CROSS JOIN LATERAL sla_incident_figures(a.kind, a.name,
	    calendar_ranges(a.calendar, least(i.detected_at, i.fault_start),
	        now()), i.id, now()) AS f
	WHERE i.id = p_id
$$;

-- An incident as a row of the list.
CREATE OR REPLACE FUNCTION incident_brief(i incident)
RETURNS jsonb LANGUAGE sql STABLE AS $$
	SELECT jsonb_build_object('id', i.id, 'ref', i.ref,
	    'status', i.status, 'phase', i.phase, 'priority', i.priority,
	    'severity', i.severity, 'segment', i.segment, 'host', i.host,
	    'check', i.check_name, 'summary', i.summary,
	    'detected_at', i.detected_at,
	    'acknowledged_at', i.acknowledged_at,
	    'acknowledged_by', i.acknowledged_by,
	    'assignee', i.assignee, 'assignee_kind', i.assignee_kind,
	    'recovered_at', i.recovered_at, 'closed_at', i.closed_at,
	    'silenced_by', i.silenced_by, 'reopen_count', i.reopen_count,
	    'children', (SELECT count(*) FROM incident_child c
	        WHERE c.incident_id = i.id),
	    'paused', EXISTS (SELECT 1 FROM incident_pause p
	        WHERE p.incident_id = i.id AND p.ended_at IS NULL))
$$;

-- GET /api/v1/incidents: status=open (not closed, the default) | closed |
-- all, phase, segment, priority, host; newest first, limit (at most 500)
-- and offset.  Open incidents come with their SLA clocks.
CREATE OR REPLACE FUNCTION api_incidents(p_role text, p_args jsonb)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
	v_status text := coalesce(api_text(p_args, 'status', false), 'open');
	v_phase text := api_text(p_args, 'phase', false);
	v_segment text := api_text(p_args, 'segment', false);
	v_host text := api_text(p_args, 'host', false);
	v_prio bigint := api_int(p_args, 'priority', false, 1, 5);
	v_limit bigint := coalesce(api_int(p_args, 'limit', false, 1, 500),
	    100);
	v_offset bigint := coalesce(api_int(p_args, 'offset', false, 0,
	    1000000000), 0);
	v_out jsonb;
	v_total bigint;
BEGIN
	IF v_status NOT IN ('open', 'closed', 'all') THEN
		PERFORM lifecycle_fail('LC005',
		    'status is open, closed or all');
	END IF;
	IF v_phase IS NOT NULL AND NOT EXISTS (SELECT 1 FROM lifecycle_phase
	    WHERE phase = v_phase) THEN
		PERFORM lifecycle_fail('LC005', 'no phase ' || v_phase);
	END IF;
	-- the status as a literal, so that the planner can use the index
	-- of the incidents not closed
	EXECUTE format($q$
	WITH m AS (
		SELECT i FROM incident i
		WHERE %s
		  AND ($1::text IS NULL OR i.phase = $1)
		  AND ($2::text IS NULL OR i.segment = $2)
		  AND ($3::text IS NULL OR i.host = $3)
		  AND ($4::bigint IS NULL OR i.priority = $4)
		  AND incident_visible(i, $5)
	), page AS (
		SELECT m.i FROM m
		ORDER BY (m.i).status = 'open' DESC,
		    (m.i).priority NULLS LAST, (m.i).detected_at DESC,
		    (m.i).id DESC
		LIMIT $6 OFFSET $7
	)
	SELECT (SELECT count(*) FROM m), coalesce(jsonb_agg(
	    incident_brief(page.i) || CASE WHEN (page.i).phase <> 'closed'
	        THEN jsonb_build_object('clocks',
	            incident_clocks((page.i).id))
	        ELSE '{}' END), '[]')
	FROM page$q$, CASE v_status
	    WHEN 'open' THEN 'i.phase <> ''closed'''
	    WHEN 'closed' THEN 'i.phase = ''closed''' ELSE 'true' END)
	INTO v_total, v_out
	USING v_phase, v_segment, v_host, v_prio, p_role, v_limit, v_offset;
	RETURN jsonb_build_object('total', v_total, 'limit', v_limit,
	    'offset', v_offset, 'incidents', v_out, 'now', now());
END
$$;

-- The history of an incident: moves, field changes and notes in order.
CREATE OR REPLACE FUNCTION incident_history(p_id bigint)
RETURNS jsonb LANGUAGE sql STABLE AS $$
	SELECT coalesce(jsonb_agg(jsonb_build_object('at', h.at,
	    'actor', h.actor, 'role', h.role, 'what', h.what,
	    'field', h.field, 'from', h.old, 'to', h.new,
	    'reason', h.reason) ORDER BY h.at, h.k, h.id), '[]')
	FROM (
		SELECT at, id, 1 AS k, actor, role,
		    CASE WHEN from_phase IS NULL THEN 'opened'
		         WHEN from_phase <> to_phase THEN 'phase'
		         WHEN from_status <> to_status THEN 'status'
		         ELSE 'event' END AS what, NULL AS field,
		    to_jsonb(CASE WHEN from_phase <> to_phase THEN from_phase
		        ELSE from_status END) AS old,
		    to_jsonb(CASE WHEN from_phase IS NULL OR
		        from_phase <> to_phase THEN to_phase
		        ELSE to_status END) AS new, reason
		FROM incident_transition WHERE incident_id = p_id
		UNION ALL
		SELECT at, id, 2, actor, role, 'field', field, old_value,
		    new_value, reason
		FROM incident_field_change WHERE incident_id = p_id
		UNION ALL
		SELECT at, id, 3, actor, role, 'note', NULL, NULL,
		    to_jsonb(body), ''
		FROM incident_note WHERE incident_id = p_id
	) AS h
$$;

-- GET /api/v1/incidents/{id}: everything the incident page shows.  The
-- form is the current phase's fields with their values and whether they
-- are still missing; moves are where the role may take it from here.
CREATE OR REPLACE FUNCTION api_incident(p_role text, p_args jsonb)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
	v_inc incident := api_incident_row(p_role, p_args);
	v_row jsonb := to_jsonb(v_inc);
	v_missing text[] := lifecycle_missing(v_inc, v_inc.phase);
BEGIN
	RETURN incident_brief(v_inc) || jsonb_build_object(
	    'origin', v_inc.origin, 'source', v_inc.source,
	    'reported_by', v_inc.reported_by,
	    'opened_at', v_inc.opened_at, 'updated_at', v_inc.updated_at,
	    'fields', (SELECT jsonb_object_agg(f.field, v_row -> f.field)
	        FROM lifecycle_field f),
	    'phases', (SELECT jsonb_agg(jsonb_build_object('phase', p.phase,
	        'name_ja', p.name_ja, 'name_en', p.name_en) ORDER BY p.seq)
	        FROM lifecycle_phase p),
	    'form', (SELECT coalesce(jsonb_agg(jsonb_build_object(
	        'field', f.field, 'type', f.type, 'label_ja', f.label_ja,
	        'label_en', f.label_en, 'value', v_row -> f.field,
	        'missing', f.field = ANY (v_missing)) ORDER BY f.field), '[]')
	        FROM lifecycle_field f WHERE f.phase = v_inc.phase),
	    'missing', to_jsonb(v_missing),
	    'moves', (SELECT coalesce(jsonb_agg(jsonb_build_object(
	        'to', t.to_phase, 'kind', t.kind) ORDER BY p.seq), '[]')
	        FROM lifecycle_transition t
	        JOIN lifecycle_phase p ON p.phase = t.to_phase
	        WHERE t.from_phase = v_inc.phase AND p_role = ANY (t.roles)),
	    'may_change', (SELECT may_change FROM lifecycle_role
	        WHERE role = p_role),
	    'problem', (SELECT jsonb_build_object('id', pr.id, 'ref', pr.ref,
	        'title', pr.title, 'status', pr.status) FROM problem pr
	        WHERE pr.id = v_inc.problem_id),
	    'suggested_problem', (SELECT jsonb_build_object('id', pr.id,
	        'ref', pr.ref, 'title', pr.title) FROM problem pr
	        WHERE pr.id = v_inc.suggested_problem_id),
	    'services', (SELECT coalesce(jsonb_agg(jsonb_build_object(
	        'name', s.name, 'title', s.title, 'operator', s.operator,
	        'departments', (SELECT coalesce(jsonb_agg(d.department ORDER BY
	            d.department), '[]') FROM service_department d
	            WHERE d.service = s.name)) ORDER BY s.name), '[]')
	        FROM service s WHERE s.name = ANY (v_inc.affected_services)),
	    'clocks', incident_clocks(v_inc.id),
	    'pauses', (SELECT coalesce(jsonb_agg(jsonb_build_object(
	        'party', p.party, 'started_at', p.started_at,
	        'ended_at', p.ended_at, 'reason', p.reason)
	        ORDER BY p.started_at), '[]')
	        FROM incident_pause p WHERE p.incident_id = v_inc.id),
	    'children', (SELECT coalesce(jsonb_agg(jsonb_build_object(
	        'host', c.host, 'check', c.check_name, 'state', c.state,
	        'host_state', c.host_state, 'recovered_at', c.recovered_at)
	        ORDER BY c.host, c.check_name), '[]')
	        FROM incident_child c WHERE c.incident_id = v_inc.id),
	    'notifications', CASE WHEN p_role = 'outsourcer' THEN '[]'::jsonb
	        ELSE (SELECT coalesce(jsonb_agg(jsonb_build_object(
	        'kind', n.kind, 'channel', n.channel,
	        'recipient', n.recipient_name, 'status', n.status,
	        'attempts', n.attempts, 'sent_at', n.sent_at) ORDER BY n.id),
	        '[]') FROM notification n WHERE n.incident_id = v_inc.id)
	        END,
	    'history', incident_history(v_inc.id));
END
$$;

-- The worst of some states, for a host's colour.
CREATE OR REPLACE FUNCTION state_rank(p_state text)
RETURNS integer LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE p_state WHEN 'OK' THEN 0 WHEN 'PENDING' THEN 1
	    WHEN 'WARNING' THEN 2 WHEN 'UNKNOWN' THEN 3 ELSE 4 END
$$;

-- GET /api/v1/board: the status board.  One panel per network segment
-- (core, information and finance first), each host with its worst check
-- state, its host state, and, when it is unreachable, the root-cause
-- host it is behind; counts for the whole board and per segment.
CREATE OR REPLACE FUNCTION api_board(p_role text)
RETURNS jsonb LANGUAGE sql STABLE AS $$
	WITH h AS (
		SELECT cs.host, min(cs.segment) AS segment,
		    max(state_rank(cs.state)) AS rank,
		    count(*) AS checks,
		    count(*) FILTER (WHERE cs.state <> 'OK') AS problems,
		    (array_agg(cs.host_state ORDER BY cs.updated_at DESC)
		        FILTER (WHERE cs.host_state IS NOT NULL))[1]
		        AS host_state,
		    (array_agg(cs.root_cause ORDER BY cs.updated_at DESC)
		        FILTER (WHERE cs.root_cause IS NOT NULL))[1]
		        AS root_cause,
		    min(cs.downtime) AS downtime,
		    bool_or(cs.flapping) AS flapping,
		    max(cs.since) FILTER (WHERE cs.state <> 'OK') AS since
		FROM current_state cs
		WHERE host_visible(cs.host, p_role)
		GROUP BY cs.host
	), hj AS (
		SELECT h.*, (ARRAY['OK', 'PENDING', 'WARNING', 'UNKNOWN',
		    'CRITICAL'])[h.rank + 1] AS state,
		    (SELECT count(*) FROM incident i WHERE i.host = h.host
		     AND i.status = 'open' AND incident_visible(i, p_role))
		        AS incidents
		FROM h
	), seg AS (
		SELECT segment, jsonb_build_object('segment', segment,
		    'hosts', jsonb_agg(jsonb_build_object('host', host,
		        'state', state, 'host_state', host_state,
		        'behind', CASE WHEN host_state = 'UNREACHABLE'
		            THEN root_cause END,
		        'checks', checks, 'problems', problems,
		        'incidents', incidents, 'downtime', downtime,
		        'flapping', flapping, 'since', since)
		        ORDER BY rank DESC, host),
		    'counts', jsonb_build_object('hosts', count(*),
		        'down', count(*) FILTER (WHERE host_state = 'DOWN'),
		        'unreachable', count(*) FILTER (WHERE
		            host_state = 'UNREACHABLE'),
		        'critical', count(*) FILTER (WHERE state = 'CRITICAL'),
		        'warning', count(*) FILTER (WHERE state = 'WARNING'),
		        'unknown', count(*) FILTER (WHERE state = 'UNKNOWN'),
		        'ok', count(*) FILTER (WHERE state = 'OK'))) AS j
		FROM hj GROUP BY segment
	)
	SELECT jsonb_build_object('now', now(),
	    'counts', (SELECT jsonb_build_object('hosts', count(*),
	        'down', count(*) FILTER (WHERE host_state = 'DOWN'),
	        'unreachable', count(*) FILTER (WHERE
	            host_state = 'UNREACHABLE'),
	        'critical', count(*) FILTER (WHERE state = 'CRITICAL'),
	        'warning', count(*) FILTER (WHERE state = 'WARNING'),
	        'unknown', count(*) FILTER (WHERE state = 'UNKNOWN'),
	        'ok', count(*) FILTER (WHERE state = 'OK')) FROM hj),
	    'incidents', (SELECT jsonb_build_object(
	        'open', count(*) FILTER (WHERE i.status = 'open'),
	        'unacknowledged', count(*) FILTER (WHERE i.status = 'open'
	            AND i.acknowledged_at IS NULL),
	        'active', count(*))
	        FROM incident i WHERE i.phase <> 'closed'
	          AND incident_visible(i, p_role)),
	    'segments', coalesce((SELECT jsonb_agg(j ORDER BY
	        array_position(ARRAY['core', 'information', 'finance'],
	            segment), segment) FROM seg), '[]'))
$$;

-- GET /api/v1/hosts/{host}: its checks, open incidents and the series of
-- metrics monitord has stored for it.
CREATE OR REPLACE FUNCTION api_host(p_role text, p_args jsonb)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
	v_host text := api_text(p_args, 'host', true);
BEGIN
	IF NOT EXISTS (SELECT 1 FROM current_state WHERE host = v_host)
	    OR NOT host_visible(v_host, p_role) THEN
		PERFORM lifecycle_fail('LC003', 'no host ' || v_host);
	END IF;
	RETURN jsonb_build_object('host', v_host,
	    'checks', (SELECT jsonb_agg(jsonb_build_object(
	        'check', cs.check_name, 'kind', cs.check_kind,
	        'segment', cs.segment, 'state', cs.state,
	        'output', cs.output, 'since', cs.since,
	        'host_state', cs.host_state, 'root_cause', cs.root_cause,
	        'flapping', cs.flapping, 'downtime', cs.downtime,
	        'updated_at', cs.updated_at) ORDER BY cs.check_name)
	        FROM current_state cs WHERE cs.host = v_host),
	    'incidents', (SELECT coalesce(jsonb_agg(incident_brief(i)
	        ORDER BY i.id DESC), '[]') FROM incident i
	        WHERE i.host = v_host AND i.phase <> 'closed'
	          AND incident_visible(i, p_role)),
	    'services', (SELECT coalesce(jsonb_agg(DISTINCT d.service), '[]')
	        FROM service_dependency d WHERE d.host = v_host),
	    'metrics', (SELECT coalesce(jsonb_agg(jsonb_build_object('check',
	        m.check_name, 'metric', m.metric) ORDER BY m.check_name,
	        m.metric), '[]') FROM metric_host_series(v_host) AS m));
END
$$;

-- GET /api/v1/hosts/{host}/metrics?check=C&metric=M&range=hour|day|week|
-- month|year: the series in steps on a grid from the epoch (15 s, 5 min,
-- 1 h, 3 h, a day: 240, 288, 168, 240 and 365 of them), each step's mean,
-- lowest and highest value: [epoch seconds, mean, min, max]
-- (metric_points, where a point of nulls marks a gap).  An hour reads
-- every sample; a day, a week or a month the 5-minute bins, a year the
-- hourly ones, and the samples of the hour not folded yet.  A day in
-- 5-minute steps is the same from the bins as from the samples (a bin is
-- its samples' count, lowest, highest and sum) at a thirtieth of the
-- reading.  On that grid a row of bins lies in one step and gives its
-- totals.  Without metric (and check), every series of the host (of the
-- check) at once, as "series": [{check, metric, points}].
CREATE OR REPLACE FUNCTION api_metrics(p_role text, p_args jsonb)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
	v_host text := api_text(p_args, 'host', true);
	v_check text := api_text(p_args, 'check', false);
	v_metric text := api_text(p_args, 'metric', false);
	v_range text := coalesce(api_text(p_args, 'range', false), 'hour');
	v_steps integer;
	v_step interval;
	v_tier text;
	v_from timestamptz;
	v_to timestamptz := now();
	v_out jsonb;
BEGIN
	SELECT r.steps, r.step, r.tier INTO v_steps, v_step, v_tier FROM (VALUES
	    ('hour', 240, interval '15 seconds', 'raw'),
	    ('day', 288, '5 minutes', '5m'), ('week', 168, '1 hour', '5m'),
	    ('month', 240, '3 hours', '5m'), ('year', 365, '1 day', '1h'))
	    AS r(name, steps, step, tier)
	WHERE r.name = v_range;
	IF v_step IS NULL THEN
		PERFORM lifecycle_fail('LC005',
		    'range is hour, day, week, month or year');
	END IF;
	IF v_metric IS NOT NULL AND v_check IS NULL THEN
		PERFORM lifecycle_fail('LC005', 'a metric needs its check');
	END IF;
	IF NOT host_visible(v_host, p_role) THEN
		PERFORM lifecycle_fail('LC003', 'no host ' || v_host);
	END IF;
	-- the last step is the one now is in
	v_from := date_bin(v_step, v_to, timestamptz 'epoch')
	    - (v_steps - 1) * v_step;
	v_out := jsonb_build_object('host', v_host, 'range', v_range,
	    'tier', v_tier, 'from', v_from, 'to', v_to,
	    'step_s', extract(epoch FROM v_step));
	IF v_metric IS NOT NULL THEN
		RETURN v_out || jsonb_build_object('check', v_check,
		    'metric', v_metric, 'points', coalesce((SELECT p.points
		        FROM metric_points(v_host, v_check, v_metric,
		            v_from, v_to, v_step, v_tier) AS p), '[]'));
	END IF;
	RETURN v_out || jsonb_build_object('series', (SELECT
	    coalesce(jsonb_agg(jsonb_build_object('check', s.check_name,
	        'metric', s.metric, 'points', coalesce(p.points, '[]'))
	        ORDER BY s.check_name, s.metric), '[]')
	    FROM metric_host_series(v_host) AS s
	    LEFT JOIN metric_points(v_host, v_check, NULL, v_from, v_to,
	        v_step, v_tier) AS p ON p.check_name = s.check_name
	        AND p.metric = s.metric
	    WHERE s.check_name = coalesce(v_check, s.check_name)));
END
$$;

-- Maintenance windows scheduled in the console are kept beside those that
-- monitord publishes, as source 'console'; monitord_publish_downtime never
-- touches them.  A state change in one carries its name, so that its
-- incident is silenced and the SLA counts it as planned.
CREATE OR REPLACE FUNCTION state_event_console_downtime() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	IF NEW.downtime IS NULL THEN
		SELECT w.name INTO NEW.downtime FROM downtime_window w
		WHERE w.source = 'console' AND w.starts_at <= NEW.observed_at
		  AND w.ends_at > NEW.observed_at
		  AND downtime_covers(w.targets, NEW.host, NEW.check_name,
		      NEW.segment)
		ORDER BY w.ends_at DESC LIMIT 1;
	END IF;
	RETURN NEW;
END
$$;

-- GET /api/v1/maintenance?from=&to=: the windows overlapping [from, to)
-- (by default from a week ago to five weeks ahead).
CREATE OR REPLACE FUNCTION api_maintenance(p_args jsonb)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
	v_from timestamptz := coalesce(api_time(p_args, 'from', false),
	    now() - interval '7 days');
	v_to timestamptz := coalesce(api_time(p_args, 'to', false),
	    now() + interval '35 days');
BEGIN
	RETURN jsonb_build_object('from', v_from, 'to', v_to,
	    'windows', (SELECT coalesce(jsonb_agg(jsonb_build_object(
	        'source', w.source, 'name', w.name, 'comment', w.comment,
	        'targets', w.targets, 'starts_at', w.starts_at,
	        'ends_at', w.ends_at, 'running', w.starts_at <= now()
	            AND w.ends_at > now()) ORDER BY w.starts_at, w.name),
	        '[]') FROM downtime_window w
	        WHERE w.starts_at < v_to AND w.ends_at > v_from));
END
$$;

-- POST /api/v1/maintenance: schedules a window.  targets is
-- "hosts: a b; checks: h/c; segments: finance".
CREATE OR REPLACE FUNCTION api_maintenance_add(p_actor text, p_args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
	v_name text := btrim(api_text(p_args, 'name', true));
	v_targets text := btrim(api_text(p_args, 'targets', true));
	v_comment text := coalesce(api_text(p_args, 'comment', false), '');
	v_starts timestamptz := api_time(p_args, 'starts_at', true);
	v_ends timestamptz := api_time(p_args, 'ends_at', true);
BEGIN
	IF v_name = '' OR length(v_name) > 200 THEN
		PERFORM lifecycle_fail('LC001',
		    'a window needs a name of at most 200 characters');
	END IF;
	IF v_targets !~ '^\s*(hosts|checks|segments):\s*\S+'
	    OR EXISTS (SELECT 1 FROM regexp_split_to_table(v_targets,
	        '\s*;\s*') AS part WHERE part <> ''
	        AND part !~ '^\s*(hosts|checks|segments):\s*\S') THEN
		PERFORM lifecycle_fail('LC001', 'targets are like '
		    '"hosts: a b; checks: host/check; segments: finance"');
	END IF;
	IF v_ends <= v_starts THEN
		PERFORM lifecycle_fail('LC001',
		    'the window must end after it starts');
	END IF;
	IF v_ends <= now() THEN
		PERFORM lifecycle_fail('LC001',
		    'the window is over already: schedule one to come');
	END IF;
	IF v_ends - v_starts > interval '31 days' THEN
		PERFORM lifecycle_fail('LC001',
		    'a window is at most 31 days long');
	END IF;
	INSERT INTO downtime_window (source, name, comment, targets,
	    starts_at, ends_at)
	VALUES ('console', v_name, btrim(v_comment || ' (' || p_actor || ')'),
	    v_targets, v_starts, v_ends)
	ON CONFLICT (source, name, starts_at) DO NOTHING;
	IF NOT FOUND THEN
		PERFORM lifecycle_fail('LC002', format(
		    'a window %s starting then exists already', v_name));
	END IF;
	RETURN jsonb_build_object('source', 'console', 'name', v_name,
	    'starts_at', v_starts, 'ends_at', v_ends, 'targets', v_targets);
END
$$;

-- POST /api/v1/maintenance/cancel {name, starts_at}: a console window
-- that has not started is removed; a running one ends now.  Windows that
-- are over are history, and monitord's are its config's.
CREATE OR REPLACE FUNCTION api_maintenance_cancel(p_args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
	v_name text := api_text(p_args, 'name', true);
	v_starts timestamptz := api_time(p_args, 'starts_at', true);
	v_w downtime_window;
BEGIN
	SELECT * INTO v_w FROM downtime_window
	WHERE source = 'console' AND name = v_name AND starts_at = v_starts
	FOR UPDATE;
	IF NOT FOUND THEN
		PERFORM lifecycle_fail('LC003',
		    'no window of the console by that name and start');
	END IF;
	IF v_w.ends_at <= now() THEN
		PERFORM lifecycle_fail('LC001', 'the window is over already');
	ELSIF v_w.starts_at > now() THEN
		DELETE FROM downtime_window WHERE source = 'console'
		  AND name = v_name AND starts_at = v_starts;
		RETURN jsonb_build_object('cancelled', true);
	END IF;
	UPDATE downtime_window SET ends_at = now(), updated_at = now()
	WHERE source = 'console' AND name = v_name AND starts_at = v_starts;
	RETURN jsonb_build_object('cancelled', false, 'ended_at', now());
END
$$;

-- The one entry point.  Changes need a role that may change things;
-- everything else is the functions' own checks.
CREATE OR REPLACE FUNCTION api_call(p_actor text, p_role text, p_op text,
    p_args jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
	v_inc incident;
	v_id bigint;
	v_may boolean;
	v_change boolean;
BEGIN
	SELECT may_change INTO v_may FROM lifecycle_role WHERE role = p_role;
	IF v_may IS NULL OR p_role = 'system' THEN
		PERFORM lifecycle_fail('LC004', 'unknown role ' || p_role);
	END IF;
	v_change := p_op IN ('open', 'advance', 'set', 'ack', 'assign',
	    'note', 'pause', 'resume', 'problem_add', 'problem_set',
	    'maint_add', 'maint_cancel');
	IF v_change AND NOT v_may THEN
		PERFORM lifecycle_fail('LC004', format(
		    'the %s role may only read', p_role));
	END IF;
	IF p_op IN ('problem_add', 'problem_set', 'maint_add',
	    'maint_cancel', 'open') AND p_role = 'outsourcer' THEN
		PERFORM lifecycle_fail('LC004',
		    'the outsourcer handles the incidents assigned to it only');
	END IF;
	IF v_change THEN
		INSERT INTO api_change (actor, role, op, args)
		VALUES (p_actor, p_role, p_op, p_args);
	END IF;
	CASE p_op
	WHEN 'board' THEN
		RETURN api_board(p_role);
	WHEN 'host' THEN
		RETURN api_host(p_role, p_args);
	WHEN 'metrics' THEN
		RETURN api_metrics(p_role, p_args);
	WHEN 'incidents' THEN
		RETURN api_incidents(p_role, p_args);
	WHEN 'incident' THEN
		RETURN api_incident(p_role, p_args);
	WHEN 'open' THEN
		v_id := incident_open_manual(p_actor, p_role,
		    api_text(p_args, 'summary', true),
		    api_text(p_args, 'host', false),
		    api_text(p_args, 'segment', false),
		    api_text(p_args, 'reported_by', false),
		    api_object(p_args, 'fields'));
		RETURN api_incident(p_role, jsonb_build_object('id', v_id));
	WHEN 'problems' THEN
		RETURN jsonb_build_object('problems', (SELECT coalesce(
		    jsonb_agg(problem_json(p, p_role, false) ORDER BY
		    p.status IN ('resolved', 'closed'), p.id DESC), '[]')
		    FROM problem p));
	WHEN 'problem' THEN
		v_id := api_int(p_args, 'id', true, 1, 999999999999);
		IF NOT EXISTS (SELECT 1 FROM problem WHERE id = v_id) THEN
			PERFORM lifecycle_fail('LC003', format(
			    'no problem PRB-%s', lpad(v_id::text, 6, '0')));
		END IF;
		RETURN (SELECT problem_json(p, p_role, true) FROM problem p
		    WHERE p.id = v_id);
	WHEN 'problem_add' THEN
		v_id := problem_save(NULL, p_actor, p_role,
		    api_object(p_args, 'fields'),
		    api_text(p_args, 'reason', false));
		RETURN (SELECT problem_json(p, p_role, true) FROM problem p
		    WHERE p.id = v_id);
	WHEN 'problem_set' THEN
		v_id := problem_save(api_int(p_args, 'id', true, 1,
		    999999999999), p_actor, p_role,
		    api_object(p_args, 'fields'),
		    api_text(p_args, 'reason', false));
		RETURN (SELECT problem_json(p, p_role, true) FROM problem p
		    WHERE p.id = v_id);
	WHEN 'maintenance' THEN
		RETURN api_maintenance(p_args);
	WHEN 'maint_add' THEN
		RETURN api_maintenance_add(p_actor, p_args);
	WHEN 'maint_cancel' THEN
		RETURN api_maintenance_cancel(p_args);
	ELSE
		NULL;
	END CASE;
	-- the rest change one incident the role can see
	v_inc := api_incident_row(p_role, p_args);
	CASE p_op
	WHEN 'advance' THEN
		PERFORM incident_advance(v_inc.id, api_text(p_args, 'to', true),
		    api_text(p_args, 'expect', false), p_actor, p_role,
		    api_object(p_args, 'fields'),
		    api_text(p_args, 'reason', false));
	WHEN 'set' THEN
		PERFORM incident_set(v_inc.id, p_actor, p_role,
		    api_object(p_args, 'fields'),
		    api_text(p_args, 'reason', false));
	WHEN 'ack' THEN
		PERFORM incident_ack(v_inc.id, p_actor, p_role);
	WHEN 'assign' THEN
		PERFORM incident_assign(v_inc.id, p_actor, p_role,
		    api_text(p_args, 'assignee', true),
		    api_text(p_args, 'kind', true),
		    api_text(p_args, 'reason', false));
	WHEN 'note' THEN
		PERFORM incident_add_note(v_inc.id, p_actor, p_role,
		    api_text(p_args, 'body', true));
	WHEN 'pause' THEN
		PERFORM incident_pause_start(v_inc.id,
		    api_text(p_args, 'party', true), now(), p_actor, p_role,
		    api_text(p_args, 'reason', true));
	WHEN 'resume' THEN
		PERFORM incident_pause_end(v_inc.id, now(), p_actor, p_role);
	ELSE
		PERFORM lifecycle_fail('LC003', 'no operation ' || p_op);
	END CASE;
	-- assigned away from the outsourcer: it sees no more of it
	SELECT * INTO v_inc FROM incident WHERE id = v_inc.id;
	IF NOT incident_visible(v_inc, p_role) THEN
		RETURN jsonb_build_object('id', v_inc.id, 'ref', v_inc.ref,
		    'visible', false);
	END IF;
	RETURN api_incident(p_role, jsonb_build_object('id', v_inc.id));
END
$$;

CREATE OR REPLACE TRIGGER state_event_console_downtime BEFORE INSERT ON state_event
	FOR EACH ROW EXECUTE FUNCTION state_event_console_downtime();
