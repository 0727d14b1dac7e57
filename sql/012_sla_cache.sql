-- The monthly report at scale: figures worked out once and kept.
--
-- A month's availability is the sum of its days', and an incident's time
-- to acknowledge and to restore no longer change once it is restored,
-- acknowledged and no longer paused.  So incidentd works out each
-- agreement's past days (sla_day) and each finished incident's times
-- (sla_incident) in the background, with the same functions as before
-- (sla_refresh), and the report adds them up, working out live only what
-- is not kept: today, a day changed since, an incident still open.  A
-- kept figure is dropped as soon as what it was made from changes: a state
-- change dated in a kept day or before it, a maintenance window, a pause,
-- the incident itself, or the definitions (agreements, targets,
-- calendars, holidays, dependencies).  The figures are the same whether
-- kept or not (test_sla compares them).

-- An agreement's availability figures for one day [starts_at, ends_at) of
-- a report's time zone (ranges_figures, before the percentage).
CREATE TABLE sla_day (
	agreement  text NOT NULL,
	starts_at  timestamptz NOT NULL,
	ends_at    timestamptz NOT NULL,
	agreed_s   double precision NOT NULL,
	excluded_s double precision NOT NULL,
	nodata_s   double precision NOT NULL,
	down_s     double precision NOT NULL,
	planned_s  double precision NOT NULL,
	PRIMARY KEY (agreement, starts_at, ends_at)
);
CREATE INDEX sla_day_ends ON sla_day (ends_at);

-- Each incident of each agreement (its service is among the incident's
-- affected services), with what selects it for a month; and, once the
-- incident is finished, its figures.  done_at is when they stopped
-- changing (restored, acknowledged, last pause over; 'infinity' while a
-- pause runs); NULL means not worked out, or dropped since.
CREATE TABLE sla_incident (
	agreement       text NOT NULL,
	incident_id     bigint NOT NULL,
	ref             text NOT NULL,
	priority        smallint,
	segment         text NOT NULL,
	cause           text,
	detected_at     timestamptz NOT NULL,
	acknowledged_at timestamptz,
	restored_at     timestamptz, -- fault end, or recovery
	-- the incident's row of its first agreement: counted once by it
	is_first        boolean NOT NULL,
	done_at         timestamptz,
	tto_s           double precision,
	ttr_s           double precision,
	tto_target_s    double precision,
	ttr_target_s    double precision,
	paused_s        double precision,
	PRIMARY KEY (agreement, incident_id)
);
CREATE INDEX sla_incident_incident ON sla_incident (incident_id);
CREATE INDEX sla_incident_todo ON sla_incident (agreement)
	WHERE done_at IS NULL;
CREATE INDEX sla_incident_done ON sla_incident (done_at);
CREATE INDEX sla_incident_first ON sla_incident (detected_at)
	WHERE is_first;

-- An agreement's incidents of a month that is over, [starts_at, ends_at),
-- added up (sla_month_sums), and its breaches (sla_month_breaches): what
-- the report needs of them.  A change to an incident drops the months it
-- was unrestored in.  Times in whole microseconds.
CREATE TABLE sla_incident_month (
	agreement    text NOT NULL,
	starts_at    timestamptz NOT NULL,
	ends_at      timestamptz NOT NULL,
	n            bigint NOT NULL,
	failures     bigint NOT NULL, -- detected in the month
	tto_breaches bigint NOT NULL,
	ttr_breaches bigint NOT NULL,
	tto_us       numeric NOT NULL, -- acknowledged ones
	tto_n        bigint NOT NULL,
	ttr_us       numeric NOT NULL,
	ttr_n        bigint NOT NULL,
	spread       bigint[] NOT NULL, -- see sla_ttr_bin()
	PRIMARY KEY (agreement, starts_at, ends_at)
);

CREATE TABLE sla_month_breach (
	agreement   text NOT NULL,
	starts_at   timestamptz NOT NULL,
	ends_at     timestamptz NOT NULL,
	ref         text NOT NULL,
	priority    smallint,
	detected_at timestamptz NOT NULL,
	metric      text NOT NULL,
	value_s     double precision NOT NULL,
	target_s    double precision NOT NULL,
	open_at_end boolean NOT NULL
);
CREATE INDEX sla_month_breach_month ON sla_month_breach (agreement,
    starts_at, ends_at);

-- A month's incidents (those detected in it, over every agreement) by
-- priority (p), segment (s), cause (c) and day of detection (d), each
-- counted once; kind '*' says the month was counted.
CREATE TABLE sla_count_month (
	starts_at timestamptz NOT NULL,
	ends_at   timestamptz NOT NULL,
	kind      char(1) NOT NULL,
	value     text NOT NULL,
	n         bigint NOT NULL,
	PRIMARY KEY (starts_at, ends_at, kind, value)
);

-- The bin of a time to restore: within 1 h, 1-4 h, 4-8 h, 8-24 h, over
-- (1-5).
CREATE FUNCTION sla_ttr_bin(p_s double precision) RETURNS integer
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
CREATE FUNCTION sla_cache_lock(p_exclusive boolean) RETURNS void
LANGUAGE sql AS $$
	SELECT CASE WHEN p_exclusive THEN pg_advisory_xact_lock(5459009)
	    ELSE pg_advisory_xact_lock_shared(5459009) END
$$;

-- The percentage of available time: NULL when there was no data at all,
-- never 100.
CREATE FUNCTION sla_availability_pct(p_agreed double precision,
    p_excluded double precision, p_nodata double precision,
    p_down double precision)
RETURNS numeric LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE WHEN p_agreed - p_excluded - p_nodata > 0 THEN
	    round((100 * (p_agreed - p_excluded - p_nodata - p_down)
	        / (p_agreed - p_excluded - p_nodata))::numeric, 4) END
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

-- One incident's figures for an agreement (of kind p_kind), measured up to
-- p_cut: time to acknowledge (detected -> acknowledged) and to restore
-- (fault start -> fault end) within p_open, the agreement's service time
-- (it must cover both), less the pauses that stop the agreement's clock;
-- the targets for the incident's priority; the time paused; and when the
-- figures stopped changing (NULL while unrestored).
CREATE FUNCTION sla_incident_figures(p_kind text, p_agreement text,
    p_open tstzmultirange, p_id bigint, p_cut timestamptz,
    OUT tto_s double precision, OUT ttr_s double precision,
    OUT tto_target_s double precision, OUT ttr_target_s double precision,
    OUT paused_s double precision, OUT done_at timestamptz)
LANGUAGE sql STABLE AS $$
	SELECT agreement_clock_seconds(p_open, ps.stops, i.detected_at,
	        least(coalesce(i.acknowledged_at, x.t1, p_cut), p_cut)),
	    agreement_clock_seconds(p_open, ps.stops, x.t0,
	        least(coalesce(x.t1, p_cut), p_cut)),
	    extract(epoch FROM t.tto), extract(epoch FROM t.ttr),
	    coalesce(ps.paused, 0),
	    CASE WHEN x.t1 IS NOT NULL THEN greatest(x.t1, i.acknowledged_at,
	        ps.last_end) END
	FROM incident i
	CROSS JOIN LATERAL (SELECT coalesce(i.fault_start, i.detected_at)
	        AS t0, coalesce(i.fault_end, i.recovered_at) AS t1) AS x
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
-- to then (open_at_end).  p_cut is least(p_to, now()), given as a value so
-- that the planner can count on it.
CREATE FUNCTION sla_month_incidents(p_kept text[], p_live text[],
    p_from timestamptz, p_to timestamptz, p_cut timestamptz)
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
	  AND c.detected_at < p_to AND c.restored_at >= p_from
	UNION ALL
	SELECT c.agreement, c.incident_id, c.ref, c.priority, c.segment,
	    c.cause, c.detected_at, c.acknowledged_at, c.restored_at,
	    c.restored_at IS NULL OR c.restored_at >= p_cut,
	    f.tto_s, f.ttr_s, f.tto_target_s, f.ttr_target_s,
	    f.tto_s > f.tto_target_s, f.ttr_s > f.ttr_target_s, f.paused_s
	FROM sla_incident c
	JOIN unnest(p_live) AS n(name) ON n.name = c.agreement
	JOIN agreement a ON a.name = c.agreement
	CROSS JOIN LATERAL sla_incident_figures(a.kind, a.name,
	    calendar_ranges(a.calendar, (SELECT least(i.detected_at,
	        i.fault_start) FROM incident i WHERE i.id = c.incident_id),
	        p_cut),
	    c.incident_id, p_cut) AS f
	WHERE cardinality(p_live) > 0
	  AND (c.done_at IS NULL OR c.done_at >= p_cut)
	  AND c.detected_at < p_to
	  AND coalesce(c.restored_at, 'infinity') >= p_from
$$;

-- One agreement's incidents, as before (see sla_month_incidents).
DROP FUNCTION agreement_incidents(text, timestamptz, timestamptz);
CREATE FUNCTION agreement_incidents(p_agreement text, p_from timestamptz,
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

-- Each agreement's incidents of [p_from, p_to) added up: how many, how
-- many detected in it (failures), the breaches, the times to acknowledge
-- (of those acknowledged by p_to) and to restore (of those restored by
-- then) in whole microseconds, and the spread of the latter (sla_ttr_bin).
CREATE FUNCTION sla_month_sums(p_names text[], p_from timestamptz,
    p_to timestamptz, p_cut timestamptz)
RETURNS TABLE (agreement text, n bigint, failures bigint,
    tto_breaches bigint, ttr_breaches bigint, tto_us numeric, tto_n bigint,
    ttr_us numeric, ttr_n bigint, spread bigint[])
LANGUAGE sql STABLE AS $$
	SELECT m.agreement, count(*),
	    count(*) FILTER (WHERE m.detected_at >= p_from),
	    count(*) FILTER (WHERE m.tto_breach),
	    count(*) FILTER (WHERE m.ttr_breach),
	    coalesce(sum((m.tto_s * 1e6)::bigint) FILTER (WHERE
	        m.acknowledged_at < p_to), 0),
	    count(*) FILTER (WHERE m.acknowledged_at < p_to),
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
CREATE FUNCTION sla_month_breaches(p_names text[], p_from timestamptz,
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
CREATE FUNCTION sla_month_availability(p_names text[], p_from timestamptz,
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
CREATE FUNCTION sla_report(p_month text, p_tz text, p_service text,
    p_department text, p_provider text, p_detail boolean)
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
CREATE FUNCTION sla_month_counts(p_names text[], p_from timestamptz,
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

-- The whole report, drill-down included, as it was.
CREATE OR REPLACE FUNCTION sla_report(p_month text, p_tz text,
    p_service text, p_department text, p_provider text)
RETURNS jsonb LANGUAGE sql STABLE AS $$
	SELECT sla_report(p_month, p_tz, p_service, p_department, p_provider,
	    true)
$$;
DROP FUNCTION sla_report_counts(jsonb, text, timestamptz);

-- What incidents bring to sla_incident: a row per agreement of each of
-- their affected services, figures to be worked out.
CREATE VIEW sla_incident_source AS
	SELECT a.name AS agreement, i.id AS incident_id, i.ref, i.priority,
	    i.segment, i.cause, i.detected_at, i.acknowledged_at,
	    coalesce(i.fault_end, i.recovered_at) AS restored_at,
	    a.name = min(a.name) OVER (PARTITION BY i.id) AS is_first
	FROM incident i JOIN agreement a ON a.service = ANY (i.affected_services);

CREATE FUNCTION sla_incident_added() RETURNS trigger LANGUAGE plpgsql AS $$
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
CREATE TRIGGER incident_sla_added AFTER INSERT ON incident
	REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION sla_incident_added();

CREATE FUNCTION sla_incident_changed() RETURNS trigger LANGUAGE plpgsql AS $$
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
CREATE TRIGGER incident_sla_changed AFTER UPDATE ON incident
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
CREATE TRIGGER incident_sla_deleted AFTER DELETE ON incident
	FOR EACH ROW EXECUTE FUNCTION sla_incident_changed();

-- Drops the months' sums and breaches of agreements p_ag whose months
-- meet incidents detected at p_from and restored at p_to (NULL: not yet).
CREATE FUNCTION sla_months_drop(p_ag text[], p_from timestamptz[],
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
CREATE FUNCTION sla_incident_rows_changed() RETURNS trigger
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
CREATE TRIGGER sla_incident_added AFTER INSERT ON sla_incident
	REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION sla_incident_rows_changed();
CREATE TRIGGER sla_incident_deleted AFTER DELETE ON sla_incident
	REFERENCING OLD TABLE AS old_rows
	FOR EACH STATEMENT EXECUTE FUNCTION sla_incident_rows_changed();

-- A kept incident's figures dropped (a pause): its months too.
CREATE FUNCTION sla_incident_row_dropped() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM sla_months_drop(ARRAY[NEW.agreement], ARRAY[NEW.detected_at],
	    ARRAY[NEW.restored_at]);
	RETURN NULL;
END
$$;
CREATE TRIGGER sla_incident_dropped AFTER UPDATE ON sla_incident
	FOR EACH ROW WHEN (NEW.done_at IS NULL)
	EXECUTE FUNCTION sla_incident_row_dropped();

-- A pause changes its incident's figures.
CREATE FUNCTION sla_pause_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM sla_cache_lock(false);
	UPDATE sla_incident SET done_at = NULL
	WHERE incident_id IN (SELECT incident_id FROM new_rows);
	RETURN NULL;
END
$$;
CREATE TRIGGER incident_pause_sla_added AFTER INSERT ON incident_pause
	REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION sla_pause_added();
CREATE FUNCTION sla_pause_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM sla_cache_lock(false);
	UPDATE sla_incident SET done_at = NULL
	WHERE incident_id IN (OLD.incident_id, NEW.incident_id);
	RETURN NULL;
END
$$;
CREATE TRIGGER incident_pause_sla_changed
	AFTER UPDATE OR DELETE ON incident_pause
	FOR EACH ROW EXECUTE FUNCTION sla_pause_changed();

-- A state change drops the kept days it reaches: from its day on, for the
-- agreements of the services that depend on its host.
CREATE FUNCTION sla_state_added() RETURNS trigger LANGUAGE plpgsql AS $$
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
CREATE TRIGGER state_event_sla_added AFTER INSERT ON state_event
	REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION sla_state_added();

-- A maintenance window drops the kept days it overlaps, before and after
-- a change.
CREATE FUNCTION sla_window_changed() RETURNS trigger LANGUAGE plpgsql AS $$
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
CREATE TRIGGER downtime_window_sla_changed
	AFTER INSERT OR UPDATE OR DELETE ON downtime_window
	FOR EACH ROW EXECUTE FUNCTION sla_window_changed();

-- Drops everything kept and lists each incident's agreements anew.
CREATE FUNCTION sla_cache_reset() RETURNS void LANGUAGE sql AS $$
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
CREATE FUNCTION sla_holidays_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM sla_cache_lock(false);
	PERFORM sla_cache_reset();
	RETURN NULL;
END
$$;
CREATE TRIGGER national_holiday_sla_changed
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON national_holiday
	FOR EACH STATEMENT EXECUTE FUNCTION sla_holidays_changed();

-- The definitions the figures are made from, as one text to compare.
CREATE FUNCTION sla_definitions() RETURNS text LANGUAGE sql STABLE AS $$
	SELECT md5(concat_ws('|',
	    (SELECT string_agg(a::text, ',' ORDER BY a.name) FROM agreement a),
	    (SELECT string_agg(t::text, ',' ORDER BY t.agreement, t.priority)
	     FROM agreement_target t),
	    (SELECT string_agg(c::text, ',' ORDER BY c.name) FROM calendar c),
	    (SELECT string_agg(d::text, ',' ORDER BY d.service, d.host,
	         d.check_name) FROM service_dependency d)))
$$;

-- The configuration as before; what was kept goes when the definitions
-- changed.
ALTER FUNCTION lifecycle_configure(jsonb) RENAME TO lifecycle_configure_010;
CREATE FUNCTION lifecycle_configure(p_conf jsonb)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	v_before text := sla_definitions();
BEGIN
	PERFORM lifecycle_configure_010(p_conf);
	IF sla_definitions() IS DISTINCT FROM v_before THEN
		PERFORM sla_cache_reset();
	END IF;
END
$$;

-- Works out what the report will need and is not kept yet: each
-- agreement's days in time zone p_tz that are over, from p_since (NULL:
-- the first of last month), and the figures of restored incidents; at most p_limit of each
-- (days and incidents) per call, oldest first.  incidentd calls it in the
-- background.  Returns how many it worked out.
CREATE FUNCTION sla_refresh(p_tz text, p_limit integer, p_since date,
    OUT days integer, OUT incidents integer)
LANGUAGE plpgsql
    -- compiling these small queries costs more than running them
    SET jit = off AS $$
DECLARE
	v_today date := (now() AT TIME ZONE p_tz)::date;
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
			    v_today - 1, interval '1 day') AS g) AS d
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
		    date_trunc('month', v_today::timestamp) - interval '1 month',
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

-- The incidents already there.
INSERT INTO sla_incident (agreement, incident_id, ref, priority, segment,
    cause, detected_at, acknowledged_at, restored_at, is_first)
SELECT * FROM sla_incident_source;
