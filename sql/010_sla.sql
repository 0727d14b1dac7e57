-- Agreements and their figures: the SLA the IT department owes each user
-- department for a service, and the OLA its outsourcer owes it.
--
-- Availability is worked out from the hard states monitord recorded for
-- the service's dependencies, clipped to the agreement's service time (its
-- calendar), month by month:
--   - a dependency check is down while CRITICAL, up while OK or WARNING,
--     and without data while UNKNOWN or before its first state change;
--   - the service is down while any dependency is down; that time is
--     planned when every down dependency is inside a maintenance window
--     (downtime_window) covering it, unplanned otherwise;
--   - planned maintenance is either removed from the agreed time (rule
--     'exclude', as Zabbix does) or counted as available ('available', as
--     Icinga does); unplanned downtime always counts, and maintenance time
--     with unplanned downtime in it is never removed;
--   - time without data is left out of the figure, and a period with no
--     data at all has no availability (NULL), never 100 %.
--   availability = (agreed - excluded - no data - down)
--                  / (agreed - excluded - no data)
--   where agreed is the calendar's service time before the exclusions, as
--   the report shows it (ranges_figures).
--
-- Time to acknowledge (detected -> acknowledged) and time to restore
-- (fault start -> fault end) are counted in the agreement's business time,
-- less the pauses that stop its clock: waiting on the department stops
-- every clock; waiting on the in-house staff stops the outsourcer's (OLA)
-- clock only; waiting on the outsourcer stops none, since the department
-- holds the IT department to account for its outsourcer.

CREATE TABLE agreement (
	name         text PRIMARY KEY,
	kind         text NOT NULL CHECK (kind IN ('sla', 'ola')),
	service      text NOT NULL REFERENCES service ON DELETE CASCADE,
	party        text NOT NULL, -- the department, or the outsourcer
	calendar     text REFERENCES calendar ON DELETE SET NULL, -- NULL: 24x7
	availability numeric(7, 4) CHECK (availability BETWEEN 0 AND 100),
	maintenance  text NOT NULL DEFAULT 'exclude'
	                 CHECK (maintenance IN ('exclude', 'available'))
);

-- Time-to-acknowledge and time-to-restore targets, per priority.
CREATE TABLE agreement_target (
	agreement text NOT NULL REFERENCES agreement ON DELETE CASCADE,
	priority  smallint NOT NULL CHECK (priority BETWEEN 1 AND 5),
	tto       interval,
	ttr       interval,
	PRIMARY KEY (agreement, priority)
);

-- An incident waiting on someone.  Pauses are recorded as they start and
-- end; each also leaves a note in the incident's audit trail.
CREATE TABLE incident_pause (
	id          bigserial PRIMARY KEY,
	incident_id bigint NOT NULL REFERENCES incident (id),
	party       text NOT NULL
	                CHECK (party IN ('department', 'in-house', 'outsourcer')),
	started_at  timestamptz NOT NULL,
	ended_at    timestamptz,
	reason      text NOT NULL,
	CHECK (ended_at IS NULL OR ended_at > started_at)
);
CREATE INDEX incident_pause_incident ON incident_pause (incident_id);
-- at most one running pause per incident
CREATE UNIQUE INDEX incident_pause_running ON incident_pause (incident_id)
	WHERE ended_at IS NULL;

-- A check's history, in order: what availability is worked out from.
CREATE INDEX state_event_check_time ON state_event (host, check_name,
    observed_at);
-- The incidents of a service.
CREATE INDEX incident_affected_services ON incident USING gin
    (affected_services);

-- Whether waiting on a party stops the clock of an agreement of a kind.
CREATE FUNCTION agreement_clock_stops(p_kind text, p_party text)
RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
	SELECT p_party = 'department'
	    OR (p_kind = 'ola' AND p_party = 'in-house')
$$;

-- The length of a multirange in seconds.
CREATE FUNCTION multirange_seconds(p tstzmultirange)
RETURNS double precision LANGUAGE sql IMMUTABLE AS $$
	SELECT coalesce(sum(extract(epoch FROM upper(r) - lower(r))), 0)
	FROM unnest(p) AS r
$$;

-- A calendar's opening hours within [p_from, p_to); all of it when the
-- calendar is always open or unknown (NULL: 24x7).
CREATE FUNCTION calendar_ranges(p_cal text, p_from timestamptz,
    p_to timestamptz)
RETURNS tstzmultirange LANGUAGE plpgsql STABLE AS $$
DECLARE
	v_cal calendar;
	v_day date;
	v_out tstzmultirange := '{}';
BEGIN
	IF p_to <= p_from THEN
		RETURN v_out;
	END IF;
	SELECT * INTO v_cal FROM calendar WHERE name = p_cal;
	IF NOT FOUND OR v_cal.always_open THEN
		RETURN tstzmultirange(tstzrange(p_from, p_to));
	END IF;
	v_day := (p_from AT TIME ZONE v_cal.tz)::date;
	WHILE v_day <= (p_to AT TIME ZONE v_cal.tz)::date LOOP
		IF calendar_day_open(v_cal, v_day) THEN
			v_out := v_out + tstzmultirange(tstzrange(
			    (v_day + v_cal.opens) AT TIME ZONE v_cal.tz,
			    (v_day + v_cal.closes) AT TIME ZONE v_cal.tz));
		END IF;
		v_day := v_day + 1;
	END LOOP;
	RETURN v_out * tstzmultirange(tstzrange(p_from, p_to));
END
$$;

-- Whether a downtime window's targets ("hosts: a b; checks: h/c;
-- segments: finance", as monitord publishes them) cover a check.
CREATE FUNCTION downtime_covers(p_targets text, p_host text, p_check text,
    p_segment text)
RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
	SELECT EXISTS (
	    SELECT 1 FROM regexp_split_to_table(p_targets, '\s*;\s*') AS part,
	    LATERAL (SELECT split_part(part, ':', 1) AS kind,
	        regexp_split_to_array(btrim(substr(part,
	            strpos(part, ':') + 1)), '\s+') AS names) AS t
	    WHERE (t.kind = 'hosts' AND p_host = ANY (t.names))
	       OR (t.kind = 'checks' AND p_host || '/' || p_check = ANY (t.names))
	       OR (t.kind = 'segments' AND p_segment = ANY (t.names)))
$$;

-- One check's states over [p_from, p_to): down, up and no-data time.
CREATE FUNCTION check_state_ranges(p_host text, p_check text,
    p_from timestamptz, p_to timestamptz, OUT down tstzmultirange,
    OUT nodata tstzmultirange, OUT segment text)
LANGUAGE sql STABLE AS $$
	WITH ev AS (
		(SELECT p_from AS t, e.new_state, e.segment, 0::bigint AS id
		 FROM state_event e
		 WHERE e.host = p_host AND e.check_name = p_check
		   AND e.observed_at <= p_from
		 ORDER BY e.observed_at DESC, e.id DESC LIMIT 1)
		UNION ALL
		SELECT e.observed_at, e.new_state, e.segment, e.id
		FROM state_event e
		WHERE e.host = p_host AND e.check_name = p_check
		  AND e.observed_at > p_from AND e.observed_at < p_to
	), seg AS (
		SELECT t, lead(t, 1, p_to) OVER (ORDER BY t, id) AS t2,
		    new_state, segment
		FROM ev
	), known AS (
		SELECT range_agg(tstzrange(t, t2)) AS r FROM seg WHERE t < t2
	)
	SELECT
	    coalesce((SELECT range_agg(tstzrange(t, t2)) FROM seg
	              WHERE new_state = 'CRITICAL' AND t < t2), '{}'),
	    tstzmultirange(tstzrange(p_from, p_to))
	        - coalesce((SELECT r FROM known), '{}')
	        + coalesce((SELECT range_agg(tstzrange(t, t2)) FROM seg
	                    WHERE new_state = 'UNKNOWN' AND t < t2), '{}'),
	    (SELECT segment FROM seg ORDER BY t DESC LIMIT 1)
$$;

CREATE TYPE agreement_ranges_t AS (agreed tstzmultirange,
    excluded tstzmultirange, nodata tstzmultirange, down tstzmultirange,
    planned tstzmultirange);

-- The time of an agreement's service over [p_from, p_to) (cut at now),
-- sorted: the agreed service time (after the maintenance it excludes), the
-- maintenance excluded from it ('exclude' rule), the time without data,
-- the downtime that counts (unplanned), and the planned downtime (for the
-- record: it never counts), each within the agreed service time.  The
-- drill-down of every availability figure.
CREATE FUNCTION agreement_ranges(p_agreement text, p_from timestamptz,
    p_to timestamptz, OUT agreed tstzmultirange,
    OUT excluded tstzmultirange, OUT nodata tstzmultirange,
    OUT down tstzmultirange, OUT planned tstzmultirange)
LANGUAGE plpgsql STABLE
    -- compiling these small queries costs more than running them
    SET jit = off AS $$
DECLARE
	v_ag agreement;
	v_to timestamptz := least(p_to, now());
	v_all tstzmultirange;
	v_down tstzmultirange := '{}';
	v_unplanned tstzmultirange := '{}';
	v_nodata tstzmultirange := '{}';
	v_maint tstzmultirange := '{}';
	v_dep record;
	v_chk record;
	v_st record;
	v_m tstzmultirange;
	v_found boolean;
BEGIN
	SELECT * INTO v_ag FROM agreement WHERE name = p_agreement;
	IF NOT FOUND OR v_to <= p_from THEN
		RETURN;
	END IF;
	v_all := tstzmultirange(tstzrange(p_from, v_to));
	FOR v_dep IN SELECT host, check_name FROM service_dependency
	    WHERE service = v_ag.service ORDER BY host, check_name LOOP
		v_found := false;
		FOR v_chk IN SELECT DISTINCT e.check_name FROM state_event e
		    WHERE e.host = v_dep.host AND (v_dep.check_name = ''
		          OR e.check_name = v_dep.check_name)
		      AND e.observed_at < v_to LOOP
			v_found := true;
			SELECT * INTO v_st FROM check_state_ranges(v_dep.host,
			    v_chk.check_name, p_from, v_to);
			SELECT coalesce(range_agg(tstzrange(w.starts_at,
			    w.ends_at)), '{}') INTO v_m
			FROM downtime_window w
			WHERE w.starts_at < v_to AND w.ends_at > p_from
			  -- a cheap test first: the name is in the text
			  AND (strpos(w.targets, v_dep.host) > 0
			       OR strpos(w.targets, 'segments:') > 0)
			  AND downtime_covers(w.targets, v_dep.host,
			      v_chk.check_name, v_st.segment);
			v_m := v_m * v_all;
			v_down := v_down + v_st.down;
			v_unplanned := v_unplanned + (v_st.down - v_m);
			v_nodata := v_nodata + v_st.nodata;
			v_maint := v_maint + v_m;
		END LOOP;
		IF NOT v_found THEN
			-- a dependency never heard of: no data for the period
			v_nodata := v_all;
		END IF;
	END LOOP;
	agreed := calendar_ranges(v_ag.calendar, p_from, v_to);
	planned := agreed * (v_down - v_unplanned);
	-- maintenance leaves the agreed time only where nothing unplanned
	-- happened in it
	excluded := CASE WHEN v_ag.maintenance = 'exclude'
	    THEN agreed * (v_maint - v_unplanned) ELSE '{}' END;
	agreed := agreed - excluded;
	down := agreed * v_unplanned;
	nodata := agreed * (v_nodata - v_down);
END
$$;

-- The figures of agreement_ranges() in seconds: the agreed service time
-- before exclusions, what was excluded, the time without data, the
-- downtime that counts, the planned downtime, and the availability in
-- percent (NULL: no data at all, never 100).
CREATE FUNCTION ranges_figures(p agreement_ranges_t,
    OUT agreed_s double precision, OUT excluded_s double precision,
    OUT nodata_s double precision, OUT down_s double precision,
    OUT planned_s double precision, OUT availability numeric)
LANGUAGE sql IMMUTABLE AS $$
	SELECT s.agreed + s.excluded, s.excluded, s.nodata, s.down, s.planned,
	    CASE WHEN s.agreed - s.nodata > 0 THEN round((100 * (s.agreed
	        - s.nodata - s.down) / (s.agreed - s.nodata))::numeric, 4) END
	FROM (SELECT multirange_seconds(p.agreed) AS agreed,
	    multirange_seconds(p.excluded) AS excluded,
	    multirange_seconds(p.nodata) AS nodata,
	    multirange_seconds(p.down) AS down,
	    multirange_seconds(p.planned) AS planned) AS s
	WHERE p.agreed IS NOT NULL
$$;

-- The intervals of agreement_ranges(), one row each, for the drill-down:
-- kind is excluded, nodata, down or planned.
CREATE FUNCTION ranges_intervals(p agreement_ranges_t)
RETURNS TABLE (kind text, starts_at timestamptz, ends_at timestamptz,
    seconds double precision)
LANGUAGE sql IMMUTABLE AS $$
	SELECT k.kind, lower(x), upper(x), extract(epoch FROM upper(x)
	    - lower(x))
	FROM (VALUES ('excluded', p.excluded), ('nodata', p.nodata),
	    ('down', p.down), ('planned', p.planned)) AS k(kind, mr),
	LATERAL unnest(k.mr) AS x
	ORDER BY 2, 1
$$;

-- The availability of an agreement's service over [p_from, p_to).
CREATE FUNCTION agreement_availability(p_agreement text, p_from timestamptz,
    p_to timestamptz, OUT agreed_s double precision,
    OUT excluded_s double precision, OUT nodata_s double precision,
    OUT down_s double precision, OUT planned_s double precision,
    OUT availability numeric)
LANGUAGE sql STABLE
    -- compiling these small queries costs more than running them
    SET jit = off AS $$
	SELECT f.* FROM agreement_ranges(p_agreement, p_from, p_to) AS r,
	LATERAL ranges_figures(r::agreement_ranges_t) AS f
$$;

-- The intervals behind an agreement's availability over [p_from, p_to).
CREATE FUNCTION agreement_intervals(p_agreement text, p_from timestamptz,
    p_to timestamptz)
RETURNS TABLE (kind text, starts_at timestamptz, ends_at timestamptz,
    seconds double precision)
LANGUAGE sql STABLE
    -- compiling these small queries costs more than running them
    SET jit = off AS $$
	SELECT i.* FROM agreement_ranges(p_agreement, p_from, p_to) AS r,
	LATERAL ranges_intervals(r::agreement_ranges_t) AS i
$$;-- Seconds of [p_from, p_to) within p_open (an agreement's service time)
-- less an incident's pauses that stop its clock (p_stops).
CREATE FUNCTION agreement_clock_seconds(p_open tstzmultirange,
    p_stops tstzmultirange, p_from timestamptz, p_to timestamptz)
RETURNS double precision LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE WHEN p_to <= p_from THEN 0 ELSE multirange_seconds(
	    p_open * tstzmultirange(tstzrange(p_from, p_to))
	    - coalesce(p_stops, '{}')) END
$$;
-- The incidents an agreement answers for in [p_from, p_to): those of its
-- service (affected_services) that were detected before p_to and were
-- still unrestored at p_from.  Each with its time to acknowledge and to
-- restore in the agreement's business time, less pauses, and whether it
-- broke its target; an incident still open, or unacknowledged, at the end
-- of the period is measured up to then (open_at_end).
CREATE FUNCTION agreement_incidents(p_agreement text, p_from timestamptz,
    p_to timestamptz)
RETURNS TABLE (incident_id bigint, ref text, priority smallint,
    segment text, cause text, detected_at timestamptz,
    acknowledged_at timestamptz, restored_at timestamptz,
    open_at_end boolean, tto_s double precision, ttr_s double precision,
    tto_target_s double precision, ttr_target_s double precision,
    tto_breach boolean, ttr_breach boolean, paused_s double precision)
LANGUAGE sql STABLE
    -- compiling these small queries costs more than running them
    SET jit = off AS $$
	WITH ag AS (SELECT * FROM agreement WHERE name = p_agreement),
	inc AS (
		SELECT i.*, coalesce(i.fault_start, i.detected_at) AS t0,
		    coalesce(i.fault_end, i.recovered_at) AS t1,
		    least(p_to, now()) AS cut
		FROM incident i, ag
		WHERE i.affected_services @> ARRAY[ag.service]
		  AND i.detected_at < p_to
		  AND coalesce(i.fault_end, i.recovered_at, 'infinity')
		      >= p_from
	),
	-- the service time, worked out once for every incident's span
	cal AS MATERIALIZED (
		SELECT calendar_ranges(ag.calendar, (SELECT min(least(
		    inc.detected_at, inc.t0)) FROM inc), least(p_to, now()))
		    AS open
		FROM ag
	), m AS (
		SELECT inc.*,
		    agreement_clock_seconds(cal.open, ps.stops,
		        inc.detected_at,
		        least(coalesce(inc.acknowledged_at, inc.t1, inc.cut),
		              inc.cut)) AS tto,
		    agreement_clock_seconds(cal.open, ps.stops, inc.t0,
		        least(coalesce(inc.t1, inc.cut), inc.cut)) AS ttr,
		    extract(epoch FROM t.tto) AS tto_t,
		    extract(epoch FROM t.ttr) AS ttr_t,
		    coalesce(ps.paused, 0) AS paused
		FROM inc CROSS JOIN ag CROSS JOIN cal
		LEFT JOIN agreement_target t ON t.agreement = ag.name
		    AND t.priority = inc.priority
		LEFT JOIN LATERAL (
			SELECT range_agg(tstzrange(p.started_at,
			    coalesce(p.ended_at, 'infinity'))) FILTER (WHERE
			    agreement_clock_stops(ag.kind, p.party)) AS stops,
			    sum(extract(epoch FROM least(coalesce(p.ended_at,
			        inc.cut), inc.cut) - p.started_at)) AS paused
			FROM incident_pause p
			WHERE p.incident_id = inc.id AND p.started_at < inc.cut
		) AS ps ON true
	)
	SELECT id, ref, priority, segment, cause, detected_at,
	    acknowledged_at, t1, t1 IS NULL OR t1 >= cut, tto, ttr, tto_t,
	    ttr_t, tto > tto_t, ttr > ttr_t, paused
	FROM m ORDER BY detected_at, id
$$;

-- The report of a month ("2026-10", in time zone p_tz) as JSON, for
-- incidentctl report sla and the console: one entry per agreement (all,
-- or those of a service, of a department's SLAs, of a provider's OLAs)
-- with its availability and time figures, the incidents that make them
-- up, the breaches, and incident counts by priority, segment and cause.
-- Times are seconds; NULL means no data (or no target), never 100 %.
CREATE FUNCTION sla_report(p_month text, p_tz text, p_service text,
    p_department text, p_provider text)
RETURNS jsonb LANGUAGE plpgsql STABLE
    -- compiling these small queries costs more than running them
    SET jit = off AS $$
DECLARE
	v_from timestamptz;
	v_to timestamptz;
	v_list jsonb[] := '{}'; -- appended in place, not copied each time
	v_out jsonb;
	v_ag agreement;
	v_av record;
	v_rg agreement_ranges_t;
	v_inc jsonb;
	v_failures integer;
BEGIN
	-- times in the report are written in its time zone, whoever asks
	PERFORM set_config('TimeZone', p_tz, true);
	IF p_month !~ '^\d{4}-(0[1-9]|1[0-2])$' THEN
		RAISE EXCEPTION 'a month is YYYY-MM, not %', p_month
		    USING ERRCODE = '22007';
	END IF;
	v_from := (p_month || '-01')::timestamp AT TIME ZONE p_tz;
	v_to := ((p_month || '-01')::date + interval '1 month')::timestamp
	    AT TIME ZONE p_tz;
	FOR v_ag IN SELECT * FROM agreement
	    WHERE (p_service IS NULL OR service = p_service)
	      AND (p_department IS NULL OR (kind = 'sla'
	           AND party = p_department))
	      AND (p_provider IS NULL OR (kind = 'ola' AND party = p_provider))
	    ORDER BY service, kind DESC, name LOOP
		-- worked out once, summed and listed
		SELECT * INTO v_rg FROM agreement_ranges(v_ag.name, v_from,
		    v_to);
		SELECT * INTO v_av FROM ranges_figures(v_rg);
		SELECT coalesce(jsonb_agg(to_jsonb(x) - 'incident_id'), '[]'),
		    count(*) FILTER (WHERE x.detected_at >= v_from)
		INTO v_inc, v_failures
		FROM agreement_incidents(v_ag.name, v_from, v_to) AS x;
		v_list := array_append(v_list, jsonb_build_object(
		    'agreement', v_ag.name, 'kind', v_ag.kind,
		    'service', v_ag.service, 'party', v_ag.party,
		    'calendar', coalesce(v_ag.calendar, '24x7'),
		    'maintenance', v_ag.maintenance,
		    'availability_target', v_ag.availability,
		    'agreed_s', v_av.agreed_s, 'excluded_s', v_av.excluded_s,
		    'nodata_s', v_av.nodata_s, 'down_s', v_av.down_s,
		    'planned_s', v_av.planned_s,
		    'availability', v_av.availability,
		    'met', v_av.availability >= v_ag.availability,
		    'incidents', v_inc,
		    'intervals', (SELECT coalesce(jsonb_agg(to_jsonb(x)), '[]')
		        FROM ranges_intervals(v_rg) x),
		    'count', jsonb_array_length(v_inc),
		    'tto_breaches', (SELECT count(*) FROM jsonb_array_elements(
		        v_inc) e WHERE (e->>'tto_breach')::boolean),
		    'ttr_breaches', (SELECT count(*) FROM jsonb_array_elements(
		        v_inc) e WHERE (e->>'ttr_breach')::boolean),
		    -- means over the incidents acknowledged, or restored, by
		    -- the end of the month
		    'mtta_s', (SELECT avg((e->>'tto_s')::double precision)
		        FROM jsonb_array_elements(v_inc) e
		        WHERE e->>'acknowledged_at' IS NOT NULL
		          AND (e->>'acknowledged_at')::timestamptz < v_to),
		    'mttr_s', (SELECT avg((e->>'ttr_s')::double precision)
		        FROM jsonb_array_elements(v_inc) e
		        WHERE NOT (e->>'open_at_end')::boolean),
		    'mtbf_s', CASE WHEN v_failures > 0 AND v_av.availability
		        IS NOT NULL THEN (v_av.agreed_s - v_av.excluded_s
		            - v_av.nodata_s - v_av.down_s) / v_failures END));
	END LOOP;
	v_out := to_jsonb(v_list);
	RETURN jsonb_build_object('month', p_month, 'timezone', p_tz,
	    'from', v_from, 'to', v_to, 'agreements', v_out,
	    'breaches', coalesce((SELECT jsonb_agg(b ORDER BY
	        b->>'detected_at', b->>'ref', b->>'agreement', b->>'metric')
	        FROM (SELECT jsonb_build_object('agreement', a->>'agreement',
	                  'ref', e->>'ref', 'priority', e->'priority',
	                  'detected_at', e->>'detected_at', 'metric', m.metric,
	                  'value_s', (e->>(m.metric || '_s'))::double precision,
	                  'target_s', (e->>(m.metric || '_target_s'))
	                      ::double precision,
	                  'over_s', (e->>(m.metric || '_s'))::double precision
	                      - (e->>(m.metric || '_target_s'))
	                      ::double precision,
	                  'open_at_end', e->'open_at_end') AS b
	              FROM jsonb_array_elements(v_out) a,
	                  jsonb_array_elements(a->'incidents') e,
	                  (VALUES ('tto'), ('ttr')) AS m(metric)
	              WHERE (e->>(m.metric || '_breach'))::boolean) s), '[]'),
	    'counts', jsonb_build_object(
	        'by_priority', sla_report_counts(v_out, 'priority', v_from),
	        'by_segment', sla_report_counts(v_out, 'segment', v_from),
	        'by_cause', sla_report_counts(v_out, 'cause', v_from)));
END
$$;

-- The incidents of a report detected in its month, counted once each (an
-- incident can be in several agreements) by one of their fields; no value
-- counts as "-".
CREATE FUNCTION sla_report_counts(p_agreements jsonb, p_field text,
    p_from timestamptz)
RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
	SELECT coalesce(jsonb_object_agg(k, n), '{}') FROM (
		SELECT coalesce(v, '-') AS k, count(*) AS n FROM (
			SELECT DISTINCT e->>'ref' AS ref, e->>p_field AS v
			FROM jsonb_array_elements(p_agreements) a,
			    jsonb_array_elements(a->'incidents') e
			WHERE (e->>'detected_at')::timestamptz >= p_from) d
		GROUP BY 1 ORDER BY 1) c
$$;

-- 008's lifecycle_configure keeps its work (services, calendars, teams);
-- this one adds the agreements, replacing those of the last
-- configuration.
ALTER FUNCTION lifecycle_configure(jsonb) RENAME TO lifecycle_configure_008;
CREATE FUNCTION lifecycle_configure(p_conf jsonb)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	PERFORM lifecycle_configure_008(p_conf);
	IF NOT p_conf ? 'agreements' THEN
		RETURN;
	END IF;
	DELETE FROM agreement;
	INSERT INTO agreement (name, kind, service, party, calendar,
	    availability, maintenance)
	SELECT a->>'name', a->>'kind', a->>'service', a->>'party',
	    a->>'calendar', (a->>'availability')::numeric,
	    coalesce(a->>'maintenance', 'exclude')
	FROM jsonb_array_elements(p_conf->'agreements') AS a;
	INSERT INTO agreement_target (agreement, priority, tto, ttr)
	SELECT a->>'name', t.key::smallint, (t.value->>'tto')::interval,
	    (t.value->>'ttr')::interval
	FROM jsonb_array_elements(p_conf->'agreements') AS a,
	    jsonb_each(coalesce(a->'targets', '{}')) AS t;
END
$$;

-- Starts a pause: the incident waits on a party from p_at (NULL: now),
-- which may be given after the fact but not before the detection.  A
-- note records it in the incident's history.  Returns the pause's id.
CREATE FUNCTION incident_pause_start(p_id bigint, p_party text,
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
CREATE FUNCTION incident_pause_end(p_id bigint, p_at timestamptz,
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

-- Closed months: the report as an administrator approved it, stored whole
-- and kept; a correction after the close is a new version with its
-- reason, never an edit.
CREATE TABLE sla_report_version (
	month       text NOT NULL,
	version     integer NOT NULL CHECK (version > 0),
	approved_by text NOT NULL,
	approved_at timestamptz NOT NULL DEFAULT now(),
	reason      text NOT NULL DEFAULT '',
	report      jsonb NOT NULL,
	PRIMARY KEY (month, version)
);
CREATE TRIGGER sla_report_version_append_only
	BEFORE UPDATE OR DELETE ON sla_report_version
	FOR EACH ROW EXECUTE FUNCTION forbid_change();
CREATE TRIGGER sla_report_version_no_truncate
	BEFORE TRUNCATE ON sla_report_version
	FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();

-- Closes a month that is over: stores its whole report as the next
-- version, approved by p_actor, who must act as an administrator.  A
-- version after the first needs a reason.  Returns the version.
CREATE FUNCTION sla_report_close(p_month text, p_tz text, p_actor text,
    p_role text, p_reason text)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
	v_report jsonb;
	v_last sla_report_version;
	v_version integer;
BEGIN
	IF p_role IS DISTINCT FROM 'administrator' THEN
		PERFORM lifecycle_fail('LC001', format('closing a month is an '
		    'administrator''s approval, not the %s role''s', p_role));
	END IF;
	v_report := sla_report(p_month, p_tz, NULL, NULL, NULL);
	IF (v_report->>'to')::timestamptz > now() THEN
		PERFORM lifecycle_fail('LC001', format('%s is not over until '
		    '%s', p_month, to_char((v_report->>'to')::timestamptz
		    AT TIME ZONE p_tz, 'YYYY-MM-DD HH24:MI')));
	END IF;
	-- one closing at a time per month
	PERFORM pg_advisory_xact_lock(hashtext('sla_report_close:' ||
	    p_month));
	SELECT * INTO v_last FROM sla_report_version WHERE month = p_month
	ORDER BY version DESC LIMIT 1;
	IF FOUND AND coalesce(btrim(p_reason), '') = '' THEN
		PERFORM lifecycle_fail('LC001', format('%s was closed as version '
		    '%s by %s on %s; a new version needs a reason (--reason)',
		    p_month, v_last.version, v_last.approved_by,
		    to_char(v_last.approved_at AT TIME ZONE p_tz,
		    'YYYY-MM-DD HH24:MI')));
	END IF;
	v_version := coalesce(v_last.version, 0) + 1;
	INSERT INTO sla_report_version (month, version, approved_by, reason,
	    report)
	VALUES (p_month, v_version, p_actor, coalesce(p_reason, ''),
	    v_report || jsonb_build_object('version', v_version,
	        'approved_by', p_actor, 'approved_at', now(),
	        'reason', coalesce(p_reason, '')));
	RETURN v_version;
END
$$;
