-- 016: each breach, and each acknowledgement, counts in one month only.
--
-- An incident unrestored at a month's end is listed in that month with its
-- times up to the month's end, and again in every later month it is
-- unrestored in, with its times from its start.  Its breach of a target
-- belongs to the month in which the target ran out: the instant its clock
-- (business time less the pauses that stop it) passed the target, or its
-- detection if the target had run out before anyone knew of the fault.
-- So a month's breaches never change once the month is over, whatever day
-- the report is read on, and no breach is counted in two months.  Its time
-- to acknowledge counts in the mean (MTTA) of the month it was
-- acknowledged in.

-- The first instant at which a clock running within p_open, less p_stops,
-- over [p_from, p_to) has run for more than p_target seconds: when the
-- target ran out.  NULL when it did not (or there is no target).
CREATE FUNCTION agreement_clock_overrun(p_open tstzmultirange,
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

-- One incident's figures for an agreement, as in 012, and when each
-- target ran out (tto_over_at, ttr_over_at; NULL: not by p_cut).
DROP FUNCTION sla_incident_figures(text, text, tstzmultirange, bigint,
    timestamptz);
CREATE FUNCTION sla_incident_figures(p_kind text, p_agreement text,
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

-- The incidents of agreements in [p_from, p_to), as in 012, with the
-- breaches of the month only.  Kept figures serve the incidents detected
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

-- Each agreement's incidents of [p_from, p_to) added up, as in 012; the
-- mean time to acknowledge is over those acknowledged in the period.
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

-- The months kept under the old rule are added up again.
DELETE FROM sla_incident_month;
DELETE FROM sla_month_breach;

-- sla_refresh as in 012, bounded: the days up to p_until (NULL or later:
-- yesterday) and the months over by then, so that a run over a given
-- period does the same work whatever day it runs on.
DROP FUNCTION sla_refresh(text, integer, date);
CREATE FUNCTION sla_refresh(p_tz text, p_limit integer, p_since date,
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
