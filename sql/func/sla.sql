-- Service levels: the availability of each agreement's service from the
-- recorded states, clipped to its calendar; the times to acknowledge and
-- to restore of its incidents in business time less pauses; the monthly
-- report, with the figures incidentd keeps in the background (sla_refresh)
-- and the triggers that drop a kept figure when what it was made from
-- changes.

-- Whether waiting on a party stops the clock of an agreement of a kind.
CREATE OR REPLACE FUNCTION agreement_clock_stops(p_kind text, p_party text)
RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
	SELECT p_party = 'department'
	    OR (p_kind = 'ola' AND p_party = 'in-house')
$$;

-- The length of a multirange in seconds.
CREATE OR REPLACE FUNCTION multirange_seconds(p tstzmultirange)
RETURNS double precision LANGUAGE sql IMMUTABLE AS $$
	SELECT coalesce(sum(extract(epoch FROM upper(r) - lower(r))), 0)
	FROM unnest(p) AS r
$$;

-- One check's states over [p_from, p_to): down, up and no-data time.
CREATE OR REPLACE FUNCTION check_state_ranges(p_host text, p_check text,
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

-- The time of an agreement's service over [p_from, p_to) (cut at now),
-- sorted: the agreed service time (after the maintenance it excludes), the
-- maintenance excluded from it ('exclude' rule), the time without data,
-- the downtime that counts (unplanned), and the planned downtime (for the
-- record: it never counts), each within the agreed service time.  The
-- drill-down of every availability figure.
CREATE OR REPLACE FUNCTION agreement_ranges(p_agreement text, p_from timestamptz,
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

CREATE OR REPLACE FUNCTION ranges_figures(p agreement_ranges_t,
    OUT agreed_s double precision, OUT excluded_s double precision,
    OUT nodata_s double precision, OUT down_s double precision,
    OUT planned_s double precision, OUT availability numeric)
LANGUAGE sql IMMUTABLE AS $$
	SELECT s.agreed + s.excluded, s.excluded, s.nodata, s.down, s.planned,
	    sla_availability_pct(s.agreed + s.excluded, s.excluded, s.nodata,
	        s.down)
	FROM (SELECT multirange_seconds(p.agreed) AS agreed,
	    multirange_seconds(p.excluded) AS excluded,
	    multirange_seconds(p.nodata) AS nodata,
	    multirange_seconds(p.down) AS down,
	    multirange_seconds(p.planned) AS planned) AS s
	WHERE p.agreed IS NOT NULL
$$;

-- The intervals of agreement_ranges(), one row each, for the drill-down:
-- kind is excluded, nodata, down or planned.
CREATE OR REPLACE FUNCTION ranges_intervals(p agreement_ranges_t)
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
CREATE OR REPLACE FUNCTION agreement_availability(p_agreement text, p_from timestamptz,
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
CREATE OR REPLACE FUNCTION agreement_intervals(p_agreement text, p_from timestamptz,
    p_to timestamptz)
RETURNS TABLE (kind text, starts_at timestamptz, ends_at timestamptz,
    seconds double precision)
LANGUAGE sql STABLE
    -- compiling these small queries costs more than running them
    SET jit = off AS $$
	SELECT i.* FROM agreement_ranges(p_agreement, p_from, p_to) AS r,
	LATERAL ranges_intervals(r::agreement_ranges_t) AS i
$$;

-- Seconds of [p_from, p_to) within p_open (an agreement's service time)
-- less an incident's pauses that stop its clock (p_stops).
CREATE OR REPLACE FUNCTION agreement_clock_seconds(p_open tstzmultirange,
    p_stops tstzmultirange, p_from timestamptz, p_to timestamptz)
RETURNS double precision LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE WHEN p_to <= p_from THEN 0 ELSE multirange_seconds(
	    p_open * tstzmultirange(tstzrange(p_from, p_to))
	    - coalesce(p_stops, '{}')) END
$$;

CREATE OR REPLACE FUNCTION agreement_incidents(p_agreement text, p_from timestamptz,
    p_to timestamptz)
RETURNS TABLE (incident_id bigint, ref text, priority smallint,
    segment text, cause text, detected_at timestamptz,
    acknowledged_at timestamptz, restored_at timestamptz,
    open_at_end boolean, tto_s double precision, ttr_s double precision,
    tto_target_s double precision, ttr_target_s double precision,
    tto_breach boolean, ttr_breach boolean, paused_s double precision)
LANGUAGE sql STABLE AS $$
	SELECT m.incident_id, m.ref, m.priority, m.segment, m.cause,
	    m.detected_at, m.acknowledged_at, m.restored_at, m.open_at_end,
	    m.tto_s, m.ttr_s, m.tto_target_s, m.ttr_target_s, m.tto_breach,
	    m.ttr_breach, m.paused_s
	FROM sla_month_incidents(ARRAY[p_agreement], ARRAY[p_agreement],
	    p_from, p_to, least(p_to, now())) AS m
	ORDER BY m.detected_at, m.incident_id
$$;

-- Closes a month that is over: stores its whole report as the next
-- version, approved by p_actor, who must act as an administrator.  A
-- version after the first needs a reason.  Returns the version.
CREATE OR REPLACE FUNCTION sla_report_close(p_month text, p_tz text, p_actor text,
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

-- The bin of a time to restore: within 1 h, 1-4 h, 4-8 h, 8-24 h, over
-- (1-5).
CREATE OR REPLACE FUNCTION sla_ttr_bin(p_s double precision) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT CASE WHEN p_s IS NULL THEN NULL WHEN p_s <= 3600 THEN 1
	    WHEN p_s <= 4 * 3600 THEN 2
	    WHEN p_s <= 8 * 3600 THEN 3 WHEN p_s <= 24 * 3600 THEN 4
	    ELSE 5 END
$$;

-- What is kept is worked out by one sla_refresh() at a time, which holds
-- this lock (exclusive) from before it reads anything to its commit;
-- whatever drops kept figures holds it shared, so that a figure worked out
-- from data older than a change is never stored after the change.
CREATE OR REPLACE FUNCTION sla_cache_lock(p_exclusive boolean) RETURNS void
LANGUAGE sql AS $$
	SELECT CASE WHEN p_exclusive THEN pg_advisory_xact_lock(5459009)
	    ELSE pg_advisory_xact_lock_shared(5459009) END
$$;

-- The percentage of available time: NULL when there was no data at all,
-- never 100.
CREATE OR REPLACE FUNCTION sla_availability_pct(p_agreed double precision,
    p_excluded double precision, p_nodata double precision,
    p_down double precision)
RETURNS numeric LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE WHEN p_agreed - p_excluded - p_nodata > 0 THEN
	    round((100 * (p_agreed - p_excluded - p_nodata - p_down)
	        / (p_agreed - p_excluded - p_nodata))::numeric, 4) END
$$;

-- One incident's figures for an agreement (of kind p_kind), measured up to
-- p_cut: time to acknowledge (detected -> acknowledged; an incident
-- nobody acknowledged, up to its restoration) and to restore (fault start
-- -> fault end) within p_open, the agreement's service time (it must
-- cover both), less the pauses that stop the agreement's clock; the
-- targets for the incident's priority; the time paused; when the figures
-- stopped changing (NULL while unrestored); and when each target ran out
-- (tto_over_at, ttr_over_at; NULL: not by p_cut).
CREATE OR REPLACE FUNCTION sla_incident_figures(p_kind text, p_agreement text,
    p_open tstzmultirange, p_id bigint, p_cut timestamptz,
    OUT tto_s double precision, OUT ttr_s double precision,
    OUT tto_target_s double precision, OUT ttr_target_s double precision,
    OUT paused_s double precision, OUT done_at timestamptz,
    OUT tto_over_at timestamptz, OUT ttr_over_at timestamptz)
LANGUAGE sql STABLE AS $$
	SELECT agreement_clock_seconds(p_open, ps.stops, i.detected_at,
	        x.tto_end),
	    agreement_clock_seconds(p_open, ps.stops, x.t0, x.ttr_end),
	    extract(epoch FROM t.tto), extract(epoch FROM t.ttr),
	    coalesce(ps.paused, 0),
	    CASE WHEN x.t1 IS NOT NULL THEN greatest(x.t1, i.acknowledged_at,
	        ps.last_end) END,
	    agreement_clock_overrun(p_open, ps.stops, i.detected_at,
	        x.tto_end, extract(epoch FROM t.tto)),
	    agreement_clock_overrun(p_open, ps.stops, x.t0, x.ttr_end,
	        extract(epoch FROM t.ttr))
	FROM incident i
	CROSS JOIN LATERAL (SELECT coalesce(i.fault_start, i.detected_at)
	        AS t0, coalesce(i.fault_end, i.recovered_at) AS t1) AS x0
	CROSS JOIN LATERAL (SELECT x0.t0, x0.t1,
	        -- an incident nobody acknowledged: up to its restoration
	        least(coalesce(i.acknowledged_at, x0.t1, p_cut), p_cut)
	            AS tto_end,
	        least(coalesce(x0.t1, p_cut), p_cut) AS ttr_end) AS x
	LEFT JOIN agreement_target t ON t.agreement = p_agreement
	    AND t.priority = i.priority
	LEFT JOIN LATERAL (
		SELECT range_agg(tstzrange(p.started_at,
		    coalesce(p.ended_at, 'infinity'))) FILTER (WHERE
		    agreement_clock_stops(p_kind, p.party)) AS stops,
		    sum(extract(epoch FROM least(coalesce(p.ended_at, p_cut),
		        p_cut) - p.started_at)) AS paused,
		    CASE WHEN bool_or(p.ended_at IS NULL) THEN 'infinity'
		        ELSE max(p.ended_at) END AS last_end
		FROM incident_pause p
		WHERE p.incident_id = i.id AND p.started_at < p_cut
	) AS ps ON true
	WHERE i.id = p_id
$$;

-- The incidents of agreements in [p_from, p_to): those detected before
-- p_to and still unrestored at p_from, with their figures: those kept, of
-- agreements p_kept, and those worked out now, of agreements p_live; one
-- still open, or unacknowledged, at the end of the period is measured up
-- to then (open_at_end).  p_cut is least(p_to, now()), given as a value
-- so that the planner can count on it.  A breach is the month's only
-- when its target ran out in it (see 016_sla_breach_month.sql).  Kept figures serve the incidents detected
-- in the month and finished before p_cut (their targets cannot have run
-- out before the month); an incident detected earlier is worked out now,
-- to tell in which month its targets ran out.
CREATE OR REPLACE FUNCTION sla_month_incidents(p_kept text[],
    p_live text[], p_from timestamptz, p_to timestamptz,
    p_cut timestamptz)
RETURNS TABLE (agreement text, incident_id bigint, ref text,
    priority smallint, segment text, cause text, detected_at timestamptz,
    acknowledged_at timestamptz, restored_at timestamptz,
    open_at_end boolean, tto_s double precision, ttr_s double precision,
    tto_target_s double precision, ttr_target_s double precision,
    tto_breach boolean, ttr_breach boolean, paused_s double precision)
LANGUAGE sql STABLE AS $$
	SELECT c.agreement, c.incident_id, c.ref, c.priority, c.segment,
	    c.cause, c.detected_at, c.acknowledged_at, c.restored_at, false,
	    c.tto_s, c.ttr_s, c.tto_target_s, c.ttr_target_s,
	    c.tto_s > c.tto_target_s, c.ttr_s > c.ttr_target_s, c.paused_s
	FROM sla_incident c
	-- a hash join: = ANY would compare each row with every name
	JOIN unnest(p_kept) AS n(name) ON n.name = c.agreement
	WHERE cardinality(p_kept) > 0 AND c.done_at < p_cut
	  AND c.detected_at >= p_from AND c.detected_at < p_to
	  AND c.restored_at >= p_from
	UNION ALL
	SELECT c.agreement, c.incident_id, c.ref, c.priority, c.segment,
	    c.cause, c.detected_at, c.acknowledged_at, c.restored_at,
	    c.restored_at IS NULL OR c.restored_at >= p_cut,
	    f.tto_s, f.ttr_s, f.tto_target_s, f.ttr_target_s,
	    f.tto_s > f.tto_target_s
	        AND greatest(f.tto_over_at, c.detected_at) >= p_from,
	    f.ttr_s > f.ttr_target_s
	        AND greatest(f.ttr_over_at, c.detected_at) >= p_from,
	    f.paused_s
	FROM sla_incident c
	JOIN unnest(p_live) AS n(name) ON n.name = c.agreement
	JOIN agreement a ON a.name = c.agreement
	CROSS JOIN LATERAL sla_incident_figures(a.kind, a.name,
	    calendar_ranges(a.calendar, (SELECT least(i.detected_at,
	        i.fault_start) FROM incident i WHERE i.id = c.incident_id),
	        p_cut),
	    c.incident_id, p_cut) AS f
	WHERE cardinality(p_live) > 0
	  AND (c.done_at IS NULL OR c.done_at >= p_cut
	       OR c.detected_at < p_from)
	  AND c.detected_at < p_to
	  AND coalesce(c.restored_at, 'infinity') >= p_from
$$;

-- Each agreement's incidents of [p_from, p_to) added up: how many, how
-- many detected in it (failures), the breaches, the times to acknowledge
-- (of those acknowledged in the period) and to restore (of those
-- restored in it) in whole microseconds, and the spread of the latter
-- (sla_ttr_bin).
CREATE OR REPLACE FUNCTION sla_month_sums(p_names text[],
    p_from timestamptz, p_to timestamptz, p_cut timestamptz)
RETURNS TABLE (agreement text, n bigint, failures bigint,
    tto_breaches bigint, ttr_breaches bigint, tto_us numeric, tto_n bigint,
    ttr_us numeric, ttr_n bigint, spread bigint[])
LANGUAGE sql STABLE AS $$
	SELECT m.agreement, count(*),
	    count(*) FILTER (WHERE m.detected_at >= p_from),
	    count(*) FILTER (WHERE m.tto_breach),
	    count(*) FILTER (WHERE m.ttr_breach),
	    coalesce(sum((m.tto_s * 1e6)::bigint) FILTER (WHERE
	        m.acknowledged_at >= p_from AND m.acknowledged_at < p_to), 0),
	    count(*) FILTER (WHERE m.acknowledged_at >= p_from
	        AND m.acknowledged_at < p_to),
	    coalesce(sum((m.ttr_s * 1e6)::bigint) FILTER (WHERE
	        NOT m.open_at_end), 0),
	    count(*) FILTER (WHERE NOT m.open_at_end),
	    ARRAY[count(*) FILTER (WHERE NOT m.open_at_end
	            AND sla_ttr_bin(m.ttr_s) = 1),
	        count(*) FILTER (WHERE NOT m.open_at_end
	            AND sla_ttr_bin(m.ttr_s) = 2),
	        count(*) FILTER (WHERE NOT m.open_at_end
	            AND sla_ttr_bin(m.ttr_s) = 3),
	        count(*) FILTER (WHERE NOT m.open_at_end
	            AND sla_ttr_bin(m.ttr_s) = 4),
	        count(*) FILTER (WHERE NOT m.open_at_end
	            AND sla_ttr_bin(m.ttr_s) = 5)]
	FROM sla_month_incidents(p_names, p_names, p_from, p_to, p_cut) AS m
	GROUP BY m.agreement
$$;

-- Each breach of agreements p_names in [p_from, p_to), one row per metric.
CREATE OR REPLACE FUNCTION sla_month_breaches(p_names text[], p_from timestamptz,
    p_to timestamptz, p_cut timestamptz)
RETURNS TABLE (agreement text, ref text, priority smallint,
    detected_at timestamptz, metric text, value_s double precision,
    target_s double precision, open_at_end boolean)
LANGUAGE sql STABLE AS $$
	SELECT m.agreement, m.ref, m.priority, m.detected_at, k.metric,
	    k.value_s, k.target_s, m.open_at_end
	FROM sla_month_incidents(p_names, p_names, p_from, p_to, p_cut) AS m,
	LATERAL (VALUES ('tto', m.tto_s, m.tto_target_s, m.tto_breach),
	    ('ttr', m.ttr_s, m.ttr_target_s, m.ttr_breach))
	    AS k(metric, value_s, target_s, hit)
	WHERE (m.tto_breach OR m.ttr_breach) AND k.hit
$$;

-- The availability figures of agreements p_names over the days of
-- [p_from, p_to) in time zone p_tz: the kept days added up, the runs of
-- days not kept worked out now (cut at now).  NULL figures: no time yet.
CREATE OR REPLACE FUNCTION sla_month_availability(p_names text[], p_from timestamptz,
    p_to timestamptz, p_tz text)
RETURNS TABLE (agreement text, agreed_s double precision,
    excluded_s double precision, nodata_s double precision,
    down_s double precision, planned_s double precision,
    availability numeric)
LANGUAGE sql STABLE AS $$
	WITH days AS (
		SELECT d AT TIME ZONE p_tz AS ds,
		    (d + interval '1 day') AT TIME ZONE p_tz AS de
		FROM generate_series(p_from AT TIME ZONE p_tz,
		    (p_to AT TIME ZONE p_tz) - interval '1 day',
		    interval '1 day') AS d
	), cells AS (
		SELECT n.name, days.ds, days.de, s.agreed_s, s.excluded_s,
		    s.nodata_s, s.down_s, s.planned_s,
		    s.agreement IS NOT NULL AS kept,
		    row_number() OVER (PARTITION BY n.name ORDER BY days.ds)
		    - row_number() OVER (PARTITION BY n.name,
		        s.agreement IS NOT NULL ORDER BY days.ds) AS run
		FROM unnest(p_names) AS n(name) CROSS JOIN days
		LEFT JOIN sla_day s ON s.agreement = n.name
		    AND s.starts_at = days.ds AND s.ends_at = days.de
	), parts AS (
		SELECT name, agreed_s, excluded_s, nodata_s, down_s, planned_s
		FROM cells WHERE kept
		UNION ALL
		SELECT g.name, f.agreed_s, f.excluded_s, f.nodata_s, f.down_s,
		    f.planned_s
		FROM (SELECT name, min(ds) AS a, max(de) AS b FROM cells
		      WHERE NOT kept GROUP BY name, run) AS g
		CROSS JOIN LATERAL agreement_availability(g.name, g.a, g.b) AS f
		WHERE f.agreed_s IS NOT NULL
	)
	SELECT s.*, sla_availability_pct(s.agreed_s, s.excluded_s, s.nodata_s,
	    s.down_s)
	FROM (SELECT name,
	          -- exact sums: the parts are whole microseconds
	          sum(round(agreed_s::numeric, 6))::double precision
	              AS agreed_s,
	          sum(round(excluded_s::numeric, 6))::double precision
	              AS excluded_s,
	          sum(round(nodata_s::numeric, 6))::double precision
	              AS nodata_s,
	          sum(round(down_s::numeric, 6))::double precision AS down_s,
	          sum(round(planned_s::numeric, 6))::double precision
	              AS planned_s
	      FROM parts GROUP BY name) AS s
$$;

-- The report of a month ("2026-10", in time zone p_tz) as JSON, for
-- incidentctl report sla and the console: one entry per agreement (all,
-- or those of a service, of a department's SLAs, of a provider's OLAs)
-- with its availability and time figures and its spread of restore
-- times; the breaches; incident counts by priority, segment, cause and
-- day of detection.  With p_detail, each agreement also lists the
-- incidents and the intervals that make up its figures (the drill-down).
-- Times are seconds; NULL means no data (or no target), never 100 %.
CREATE OR REPLACE FUNCTION sla_report(p_month text, p_tz text, p_service text,
    p_department text, p_provider text, p_detail boolean DEFAULT true)
RETURNS jsonb LANGUAGE plpgsql STABLE
    -- compiling the queries costs more than running them
    SET jit = off AS $$
DECLARE
	v_from timestamptz;
	v_to timestamptz;
	v_cut timestamptz;
	v_names text[];
	v_summed text[]; -- agreements whose kept incidents are added up
	v_rest text[];
	v_list jsonb;
	v_breaches jsonb;
	v_counts jsonb;
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
	v_cut := least(v_to, now());
	SELECT coalesce(array_agg(a.name ORDER BY a.service, a.kind DESC,
	    a.name), '{}'),
	    coalesce(array_agg(a.name) FILTER (WHERE m.agreement IS NOT NULL),
	        '{}'),
	    coalesce(array_agg(a.name) FILTER (WHERE m.agreement IS NULL),
	        '{}')
	INTO v_names, v_summed, v_rest
	FROM agreement a
	LEFT JOIN sla_incident_month m ON m.agreement = a.name
	    AND m.starts_at = v_from AND m.ends_at = v_to AND v_cut = v_to
	WHERE (p_service IS NULL OR a.service = p_service)
	  AND (p_department IS NULL OR (a.kind = 'sla'
	       AND a.party = p_department))
	  AND (p_provider IS NULL OR (a.kind = 'ola'
	       AND a.party = p_provider));
	WITH av AS (
		SELECT * FROM sla_month_availability(v_names, v_from, v_to,
		    p_tz)
	), parts AS (
		SELECT m.agreement, m.n, m.failures, m.tto_breaches,
		    m.ttr_breaches, m.tto_us, m.tto_n, m.ttr_us, m.ttr_n,
		    m.spread
		FROM sla_incident_month m
		JOIN unnest(v_summed) AS s(name) ON s.name = m.agreement
		WHERE m.starts_at = v_from AND m.ends_at = v_to
		UNION ALL
		-- the rest: from each incident, kept or worked out now
		SELECT * FROM sla_month_sums(v_rest, v_from, v_to, v_cut)
	), ic AS (
		SELECT agreement, sum(n) AS n, sum(failures) AS failures,
		    sum(tto_breaches) AS tto_breaches,
		    sum(ttr_breaches) AS ttr_breaches,
		    (sum(tto_us) / nullif(sum(tto_n), 0) / 1e6)
		        ::double precision AS mtta_s,
		    (sum(ttr_us) / nullif(sum(ttr_n), 0) / 1e6)
		        ::double precision AS mttr_s,
		    jsonb_build_array(sum(p.spread[1]), sum(p.spread[2]),
		        sum(p.spread[3]), sum(p.spread[4]), sum(p.spread[5]))
		        AS ttr_spread
		FROM parts p GROUP BY agreement
	)
	SELECT coalesce(jsonb_agg(jsonb_build_object(
	    'agreement', a.name, 'kind', a.kind, 'service', a.service,
	    'party', a.party, 'calendar', coalesce(a.calendar, '24x7'),
	    'maintenance', a.maintenance,
	    'availability_target', a.availability,
	    'agreed_s', av.agreed_s, 'excluded_s', av.excluded_s,
	    'nodata_s', av.nodata_s, 'down_s', av.down_s,
	    'planned_s', av.planned_s, 'availability', av.availability,
	    'met', av.availability >= a.availability,
	    'count', coalesce(ic.n, 0),
	    'tto_breaches', coalesce(ic.tto_breaches, 0),
	    'ttr_breaches', coalesce(ic.ttr_breaches, 0),
	    'mtta_s', ic.mtta_s, 'mttr_s', ic.mttr_s,
	    'mtbf_s', CASE WHEN ic.failures > 0 AND av.availability IS NOT NULL
	        THEN (av.agreed_s - av.excluded_s - av.nodata_s - av.down_s)
	            / ic.failures END,
	    'ttr_spread', coalesce(ic.ttr_spread, '[0, 0, 0, 0, 0]'))
	    || CASE WHEN p_detail THEN jsonb_build_object(
	        'incidents', (SELECT coalesce(jsonb_agg(to_jsonb(x)
	            - 'incident_id' ORDER BY x.detected_at, x.incident_id),
	            '[]') FROM agreement_incidents(a.name, v_from, v_to) AS x),
	        'intervals', (SELECT coalesce(jsonb_agg(to_jsonb(x)), '[]')
	            FROM agreement_intervals(a.name, v_from, v_to) AS x))
	        ELSE '{}' END
	    ORDER BY n.ord), '[]')
	INTO v_list
	FROM unnest(v_names) WITH ORDINALITY AS n(name, ord)
	JOIN agreement a ON a.name = n.name
	LEFT JOIN av ON av.agreement = n.name
	LEFT JOIN ic ON ic.agreement = n.name;
	-- each breach, kept with the month's sums or worked out now
	SELECT coalesce(jsonb_agg(jsonb_build_object('agreement',
	    b.agreement, 'ref', b.ref, 'priority', b.priority,
	    'detected_at', b.detected_at, 'metric', b.metric,
	    'value_s', b.value_s, 'target_s', b.target_s,
	    'over_s', b.value_s - b.target_s, 'open_at_end', b.open_at_end)
	    ORDER BY b.detected_at, b.ref, b.agreement, b.metric), '[]')
	INTO v_breaches
	FROM (SELECT k.agreement, k.ref, k.priority, k.detected_at, k.metric,
	          k.value_s, k.target_s, k.open_at_end
	      FROM sla_month_breach k
	      JOIN unnest(v_summed) AS s(name) ON s.name = k.agreement
	      WHERE k.starts_at = v_from AND k.ends_at = v_to
	      UNION ALL
	      SELECT * FROM sla_month_breaches(v_rest, v_from, v_to, v_cut))
	    AS b;
	-- the incidents detected in the month, each counted once: counted
	-- already for a whole month over; else by the row of its first
	-- agreement, or of its first one in the report
	SELECT jsonb_build_object(
	    'by_priority', coalesce(jsonb_object_agg(g.v, g.n) FILTER (WHERE
	        g.k = 'p'), '{}'),
	    'by_segment', coalesce(jsonb_object_agg(g.v, g.n) FILTER (WHERE
	        g.k = 's'), '{}'),
	    'by_cause', coalesce(jsonb_object_agg(g.v, g.n) FILTER (WHERE
	        g.k = 'c'), '{}'),
	    'by_day', coalesce(jsonb_object_agg(g.v, g.n) FILTER (WHERE
	        g.k = 'd'), '{}'))
	INTO v_counts
	FROM (SELECT * FROM sla_month_counts(CASE WHEN cardinality(v_rest)
	          + cardinality(v_summed) = (SELECT count(*) FROM agreement)
	          THEN NULL ELSE v_names END, v_from, v_to, v_cut)) AS g;
	RETURN jsonb_build_object('month', p_month, 'timezone', p_tz,
	    'from', v_from, 'to', v_to, 'agreements', v_list,
	    'breaches', v_breaches, 'counts', v_counts);
END
$$;

-- The incidents detected in [p_from, p_to) by priority (p), segment (s),
-- cause (c) and day (d), each counted once: those of agreements p_names,
-- or of every agreement (NULL), then from the month's counts when kept.
CREATE OR REPLACE FUNCTION sla_month_counts(p_names text[], p_from timestamptz,
    p_to timestamptz, p_cut timestamptz)
RETURNS TABLE (k text, v text, n bigint) LANGUAGE plpgsql STABLE AS $$
BEGIN
	IF p_names IS NULL AND p_cut = p_to AND EXISTS (SELECT 1
	    FROM sla_count_month m WHERE m.starts_at = p_from
	      AND m.ends_at = p_to AND m.kind = '*') THEN
		RETURN QUERY SELECT m.kind::text, m.value, m.n
		FROM sla_count_month m
		WHERE m.starts_at = p_from AND m.ends_at = p_to
		  AND m.kind <> '*';
		RETURN;
	END IF;
	-- the parameters are folded into each plan: one branch is left
	RETURN QUERY
	SELECT CASE WHEN GROUPING(i.priority) = 0 THEN 'p'
	            WHEN GROUPING(i.segment) = 0 THEN 's'
	            WHEN GROUPING(i.cause) = 0 THEN 'c' ELSE 'd' END,
	    coalesce(CASE WHEN GROUPING(i.priority) = 0 THEN i.priority::text
	                  WHEN GROUPING(i.segment) = 0 THEN i.segment
	                  WHEN GROUPING(i.cause) = 0 THEN i.cause
	                  ELSE lpad(i.day::text, 2, '0') END, '-'),
	    count(*)
	FROM (SELECT c.priority, c.segment, c.cause,
	          extract(day FROM c.detected_at)::integer AS day
	      FROM sla_incident c
	      WHERE p_names IS NULL AND c.is_first
	        AND c.detected_at >= p_from AND c.detected_at < p_to
	      UNION ALL
	      SELECT DISTINCT ON (c.incident_id) c.priority, c.segment,
	          c.cause, extract(day FROM c.detected_at)::integer
	      FROM sla_incident c
	      JOIN unnest(p_names) AS x(name) ON x.name = c.agreement
	      WHERE p_names IS NOT NULL AND c.detected_at >= p_from
	        AND c.detected_at < p_to) AS i
	GROUP BY GROUPING SETS ((i.priority), (i.segment), (i.cause),
	    (i.day));
END
$$;

CREATE OR REPLACE FUNCTION sla_incident_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM sla_cache_lock(false);
	INSERT INTO sla_incident (agreement, incident_id, ref, priority,
	    segment, cause, detected_at, acknowledged_at, restored_at, is_first)
	SELECT * FROM sla_incident_source
	WHERE incident_id IN (SELECT id FROM new_rows)
	ON CONFLICT DO NOTHING;
	RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION sla_incident_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM sla_cache_lock(false);
	DELETE FROM sla_incident WHERE incident_id = OLD.id;
	IF TG_OP = 'UPDATE' THEN
		INSERT INTO sla_incident (agreement, incident_id, ref,
		    priority, segment, cause, detected_at, acknowledged_at,
		    restored_at, is_first)
		SELECT * FROM sla_incident_source WHERE incident_id = NEW.id;
	END IF;
	RETURN NULL;
END
$$;

-- Drops the months' sums and breaches of agreements p_ag whose months
-- meet incidents detected at p_from and restored at p_to (NULL: not yet).
CREATE OR REPLACE FUNCTION sla_months_drop(p_ag text[], p_from timestamptz[],
    p_to timestamptz[])
RETURNS void LANGUAGE sql AS $$
	DELETE FROM sla_incident_month m
	USING unnest(p_ag, p_from, p_to) AS r(agreement, t0, t1)
	WHERE m.agreement = r.agreement AND m.ends_at > r.t0
	  AND m.starts_at <= coalesce(r.t1, 'infinity');
	DELETE FROM sla_month_breach m
	USING unnest(p_ag, p_from, p_to) AS r(agreement, t0, t1)
	WHERE m.agreement = r.agreement AND m.ends_at > r.t0
	  AND m.starts_at <= coalesce(r.t1, 'infinity');
$$;

-- Incidents' rows added or removed: the months they were unrestored in
-- are added up again, and the months they were detected in counted again.
CREATE OR REPLACE FUNCTION sla_incident_rows_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
	v_ag text[];
	v_from timestamptz[];
	v_to timestamptz[];
BEGIN
	IF NOT EXISTS (SELECT 1 FROM sla_incident_month)
	    AND NOT EXISTS (SELECT 1 FROM sla_count_month) THEN
		RETURN NULL; -- nothing kept to drop
	END IF;
	IF TG_OP = 'INSERT' THEN
		SELECT array_agg(agreement), array_agg(detected_at),
		    array_agg(restored_at)
		INTO v_ag, v_from, v_to
		FROM (SELECT DISTINCT agreement, detected_at, restored_at
		      FROM new_rows) AS r;
		DELETE FROM sla_count_month m
		USING (SELECT DISTINCT detected_at FROM new_rows
		       WHERE is_first) AS r
		WHERE r.detected_at >= m.starts_at AND r.detected_at < m.ends_at;
	ELSE
		SELECT array_agg(agreement), array_agg(detected_at),
		    array_agg(restored_at)
		INTO v_ag, v_from, v_to
		FROM (SELECT DISTINCT agreement, detected_at, restored_at
		      FROM old_rows) AS r;
		DELETE FROM sla_count_month m
		USING (SELECT DISTINCT detected_at FROM old_rows
		       WHERE is_first) AS r
		WHERE r.detected_at >= m.starts_at AND r.detected_at < m.ends_at;
	END IF;
	PERFORM sla_months_drop(v_ag, v_from, v_to);
	RETURN NULL;
END
$$;

-- A kept incident's figures dropped (a pause): its months too.
CREATE OR REPLACE FUNCTION sla_incident_row_dropped() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM sla_months_drop(ARRAY[NEW.agreement], ARRAY[NEW.detected_at],
	    ARRAY[NEW.restored_at]);
	RETURN NULL;
END
$$;

-- A pause changes its incident's figures.
CREATE OR REPLACE FUNCTION sla_pause_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM sla_cache_lock(false);
	UPDATE sla_incident SET done_at = NULL
	WHERE incident_id IN (SELECT incident_id FROM new_rows);
	RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION sla_pause_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM sla_cache_lock(false);
	UPDATE sla_incident SET done_at = NULL
	WHERE incident_id IN (OLD.incident_id, NEW.incident_id);
	RETURN NULL;
END
$$;

-- A state change drops the kept days it reaches: from its day on, for the
-- agreements of the services that depend on its host.
CREATE OR REPLACE FUNCTION sla_state_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM sla_cache_lock(false);
	DELETE FROM sla_day d
	USING (SELECT host, min(observed_at) AS t FROM new_rows
	       GROUP BY host) AS e
	JOIN service_dependency sd ON sd.host = e.host
	JOIN agreement a ON a.service = sd.service
	WHERE d.agreement = a.name AND d.ends_at > e.t;
	RETURN NULL;
END
$$;

-- A maintenance window drops the kept days it overlaps, before and after
-- a change.
CREATE OR REPLACE FUNCTION sla_window_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM sla_cache_lock(false);
	IF TG_OP <> 'INSERT' THEN
		DELETE FROM sla_day WHERE ends_at > OLD.starts_at
		    AND starts_at < OLD.ends_at;
	END IF;
	IF TG_OP <> 'DELETE' THEN
		DELETE FROM sla_day WHERE ends_at > NEW.starts_at
		    AND starts_at < NEW.ends_at;
	END IF;
	RETURN NULL;
END
$$;

-- Drops everything kept and lists each incident's agreements anew.
CREATE OR REPLACE FUNCTION sla_cache_reset() RETURNS void LANGUAGE sql AS $$
	SELECT sla_cache_lock(false);
	DELETE FROM sla_incident_month;
	DELETE FROM sla_month_breach;
	DELETE FROM sla_count_month;
	DELETE FROM sla_day;
	DELETE FROM sla_incident;
	INSERT INTO sla_incident (agreement, incident_id, ref, priority,
	    segment, cause, detected_at, acknowledged_at, restored_at, is_first)
	SELECT * FROM sla_incident_source;
$$;

-- The holidays change the calendars' hours.
CREATE OR REPLACE FUNCTION sla_holidays_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM sla_cache_lock(false);
	PERFORM sla_cache_reset();
	RETURN NULL;
END
$$;

-- The definitions the figures are made from, as one text to compare.
CREATE OR REPLACE FUNCTION sla_definitions() RETURNS text LANGUAGE sql STABLE AS $$
	SELECT md5(concat_ws('|',
	    (SELECT string_agg(a::text, ',' ORDER BY a.name) FROM agreement a),
	    (SELECT string_agg(t::text, ',' ORDER BY t.agreement, t.priority)
	     FROM agreement_target t),
	    (SELECT string_agg(c::text, ',' ORDER BY c.name) FROM calendar c),
	    (SELECT string_agg(d::text, ',' ORDER BY d.service, d.host,
	         d.check_name) FROM service_dependency d)))
$$;

-- incidentd's config: the agreements and their targets, replaced whole
-- when the config has agreements.
CREATE OR REPLACE FUNCTION lifecycle_configure_agreements(p_conf jsonb)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
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

-- The first instant at which a clock running within p_open, less p_stops,
-- over [p_from, p_to) has run for more than p_target seconds: when the
-- target ran out.  NULL when it did not (or there is no target).
CREATE OR REPLACE FUNCTION agreement_clock_overrun(p_open tstzmultirange,
    p_stops tstzmultirange, p_from timestamptz, p_to timestamptz,
    p_target double precision)
RETURNS timestamptz LANGUAGE sql IMMUTABLE AS $$
	SELECT lower(s.r) + make_interval(secs => p_target - (s.run - s.len))
	FROM (SELECT r, extract(epoch FROM upper(r) - lower(r)) AS len,
	          sum(extract(epoch FROM upper(r) - lower(r)))
	              OVER (ORDER BY lower(r)) AS run
	      FROM unnest(CASE WHEN p_to > p_from AND p_target IS NOT NULL
	          THEN p_open * tstzmultirange(tstzrange(p_from, p_to))
	              - coalesce(p_stops, '{}')
	          ELSE '{}' END) AS r) AS s
	WHERE s.run > p_target
	ORDER BY lower(s.r) LIMIT 1
$$;

-- Works out what the report will need and is not kept yet: each
-- agreement's days in time zone p_tz that are over, from p_since (NULL:
-- the first of last month) up to p_until (NULL or later: yesterday), the
-- figures of restored incidents, and the months over by then; at most
-- p_limit of each (days and incidents) per call, oldest first.  incidentd
-- calls it in the background.  Returns how many it worked out.
CREATE OR REPLACE FUNCTION sla_refresh(p_tz text, p_limit integer, p_since date,
    p_until date DEFAULT NULL, OUT days integer, OUT incidents integer)
LANGUAGE plpgsql
    -- compiling these small queries costs more than running them
    SET jit = off AS $$
DECLARE
	v_today date := (now() AT TIME ZONE p_tz)::date;
	v_last date := least(coalesce(p_until, v_today - 1), v_today - 1);
	v_day record;
	v_ag agreement;
	v_month record;
	v_name text;
	v_n integer;
BEGIN
	PERFORM sla_cache_lock(true);
	days := 0;
	incidents := 0;
	FOR v_day IN
		SELECT a.name, d.ds, d.de
		FROM agreement a CROSS JOIN LATERAL (
			SELECT g AT TIME ZONE p_tz AS ds,
			    (g + interval '1 day') AT TIME ZONE p_tz AS de
			FROM generate_series(coalesce(p_since::timestamp,
			    date_trunc('month', v_today - interval '1 month')),
			    v_last, interval '1 day') AS g) AS d
		WHERE NOT EXISTS (SELECT 1 FROM sla_day s
		    WHERE s.agreement = a.name AND s.starts_at = d.ds
		      AND s.ends_at = d.de)
		ORDER BY d.ds, a.name LIMIT p_limit LOOP
		INSERT INTO sla_day (agreement, starts_at, ends_at, agreed_s,
		    excluded_s, nodata_s, down_s, planned_s)
		SELECT v_day.name, v_day.ds, v_day.de, f.agreed_s,
		    f.excluded_s, f.nodata_s, f.down_s, f.planned_s
		FROM agreement_availability(v_day.name, v_day.ds, v_day.de) AS f
		WHERE f.agreed_s IS NOT NULL
		ON CONFLICT DO NOTHING;
		days := days + 1;
	END LOOP;
	FOR v_ag IN SELECT * FROM agreement a WHERE EXISTS (
	    SELECT 1 FROM sla_incident c WHERE c.agreement = a.name
	    AND c.done_at IS NULL AND c.restored_at < now())
	    ORDER BY a.name LOOP
		EXIT WHEN incidents >= p_limit;
		WITH todo AS MATERIALIZED (
			SELECT c.incident_id FROM sla_incident c
			WHERE c.agreement = v_ag.name AND c.done_at IS NULL
			  AND c.restored_at < now()
			ORDER BY c.incident_id LIMIT p_limit - incidents
		), cal AS MATERIALIZED (
			-- the service time, worked out once for them all
			SELECT calendar_ranges(v_ag.calendar, (SELECT min(least(
			    i.detected_at, i.fault_start)) FROM todo
			    JOIN incident i ON i.id = todo.incident_id), now())
			    AS open
		)
		UPDATE sla_incident c SET done_at = f.done_at,
		    tto_s = f.tto_s, ttr_s = f.ttr_s,
		    tto_target_s = f.tto_target_s,
		    ttr_target_s = f.ttr_target_s, paused_s = f.paused_s
		FROM todo CROSS JOIN cal
		CROSS JOIN LATERAL sla_incident_figures(v_ag.kind, v_ag.name,
		    cal.open, todo.incident_id, now()) AS f
		WHERE c.agreement = v_ag.name
		  AND c.incident_id = todo.incident_id;
		GET DIAGNOSTICS v_n = ROW_COUNT;
		incidents := incidents + v_n;
	END LOOP;
	-- the months over: each agreement's incidents added up, with their
	-- breaches; the month's incidents counted
	PERFORM set_config('TimeZone', p_tz, true);
	FOR v_month IN
		SELECT g AT TIME ZONE p_tz AS ms,
		    (g + interval '1 month') AT TIME ZONE p_tz AS me
		FROM generate_series(date_trunc('month', coalesce(
		    p_since::timestamp, v_today - interval '1 month')),
		    date_trunc('month', (v_last + 1)::timestamp)
		        - interval '1 month',
		    interval '1 month') AS g LOOP
		FOR v_name IN SELECT a.name FROM agreement a
		    WHERE NOT EXISTS (SELECT 1 FROM sla_incident_month m
		        WHERE m.agreement = a.name AND m.starts_at = v_month.ms
		          AND m.ends_at = v_month.me)
		    ORDER BY a.name LOOP
			EXIT WHEN days >= p_limit;
			INSERT INTO sla_incident_month (agreement, starts_at,
			    ends_at, n, failures, tto_breaches, ttr_breaches,
			    tto_us, tto_n, ttr_us, ttr_n, spread)
			SELECT v_name, v_month.ms, v_month.me,
			    coalesce(x.n, 0), coalesce(x.failures, 0),
			    coalesce(x.tto_breaches, 0),
			    coalesce(x.ttr_breaches, 0), coalesce(x.tto_us, 0),
			    coalesce(x.tto_n, 0), coalesce(x.ttr_us, 0),
			    coalesce(x.ttr_n, 0),
			    coalesce(x.spread, '{0,0,0,0,0}')
			FROM (SELECT 1) AS one
			LEFT JOIN sla_month_sums(ARRAY[v_name], v_month.ms,
			    v_month.me, v_month.me) AS x ON true;
			INSERT INTO sla_month_breach (agreement, starts_at,
			    ends_at, ref, priority, detected_at, metric,
			    value_s, target_s, open_at_end)
			SELECT v_name, v_month.ms, v_month.me, x.ref,
			    x.priority, x.detected_at, x.metric, x.value_s,
			    x.target_s, x.open_at_end
			FROM sla_month_breaches(ARRAY[v_name], v_month.ms,
			    v_month.me, v_month.me) AS x;
			days := days + 1;
		END LOOP;
		IF NOT EXISTS (SELECT 1 FROM sla_count_month m
		    WHERE m.starts_at = v_month.ms AND m.ends_at = v_month.me
		      AND m.kind = '*') THEN
			INSERT INTO sla_count_month (starts_at, ends_at, kind,
			    value, n)
			SELECT v_month.ms, v_month.me, '*', '', 0
			UNION ALL
			SELECT v_month.ms, v_month.me, x.k, x.v, x.n
			FROM sla_month_counts(NULL, v_month.ms, v_month.me,
			    v_month.me) AS x;
		END IF;
	END LOOP;
END
$$;

CREATE OR REPLACE TRIGGER incident_sla_added AFTER INSERT ON incident
	REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION sla_incident_added();

CREATE OR REPLACE TRIGGER incident_sla_changed AFTER UPDATE ON incident
	FOR EACH ROW WHEN (
	    OLD.detected_at IS DISTINCT FROM NEW.detected_at
	    OR OLD.recovered_at IS DISTINCT FROM NEW.recovered_at
	    OR OLD.fault_start IS DISTINCT FROM NEW.fault_start
	    OR OLD.fault_end IS DISTINCT FROM NEW.fault_end
	    OR OLD.acknowledged_at IS DISTINCT FROM NEW.acknowledged_at
	    OR OLD.priority IS DISTINCT FROM NEW.priority
	    OR OLD.segment IS DISTINCT FROM NEW.segment
	    OR OLD.cause IS DISTINCT FROM NEW.cause
	    OR OLD.affected_services IS DISTINCT FROM NEW.affected_services)
	EXECUTE FUNCTION sla_incident_changed();

CREATE OR REPLACE TRIGGER incident_sla_deleted AFTER DELETE ON incident
	FOR EACH ROW EXECUTE FUNCTION sla_incident_changed();

CREATE OR REPLACE TRIGGER sla_incident_added AFTER INSERT ON sla_incident
	REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION sla_incident_rows_changed();

CREATE OR REPLACE TRIGGER sla_incident_deleted AFTER DELETE ON sla_incident
	REFERENCING OLD TABLE AS old_rows
	FOR EACH STATEMENT EXECUTE FUNCTION sla_incident_rows_changed();

CREATE OR REPLACE TRIGGER sla_incident_dropped AFTER UPDATE ON sla_incident
	FOR EACH ROW WHEN (NEW.done_at IS NULL)
	EXECUTE FUNCTION sla_incident_row_dropped();

CREATE OR REPLACE TRIGGER incident_pause_sla_added AFTER INSERT ON incident_pause
	REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION sla_pause_added();

CREATE OR REPLACE TRIGGER incident_pause_sla_changed
	AFTER UPDATE OR DELETE ON incident_pause
	FOR EACH ROW EXECUTE FUNCTION sla_pause_changed();

CREATE OR REPLACE TRIGGER state_event_sla_added AFTER INSERT ON state_event
	REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION sla_state_added();

CREATE OR REPLACE TRIGGER downtime_window_sla_changed
	AFTER INSERT OR UPDATE OR DELETE ON downtime_window
	FOR EACH ROW EXECUTE FUNCTION sla_window_changed();

CREATE OR REPLACE TRIGGER national_holiday_sla_changed
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON national_holiday
	FOR EACH STATEMENT EXECUTE FUNCTION sla_holidays_changed();
