-- The measured values' store (tables: 019_metric_store.sql).  incidentd
-- calls metric_maintain() on a connection of its own, again and again
-- while it says it did something: each call is one short step in its own
-- transaction.  Times are cut into hours and days in UTC, whatever the
-- session's zone (every function here sets it).

-- incidentd.yaml's retention: {"raw": seconds, "5m": ..., "1h": ...,
-- "1h_long": ..., "traps": ...}; a tier not named keeps what it had.
CREATE OR REPLACE FUNCTION metric_configure(p_keep jsonb)
RETURNS void LANGUAGE sql AS $$
	UPDATE metric_tier t SET keep = make_interval(secs => (e.value)::float8)
	FROM jsonb_each_text(coalesce(p_keep, '{}')) AS e
	WHERE t.tier = e.key AND t.keep IS NOT NULL
	  AND t.keep IS DISTINCT FROM make_interval(secs => (e.value)::float8);
$$;

-- The series whose hourly bins stay for retention.interfaces rather than
-- retention.1h (metric_1h_long): SNMP interface traffic, in and out of
-- each "if:NAME" that an interfaces check (monitord.yaml) watches.
CREATE OR REPLACE FUNCTION metric_series_long(p_check text, p_metric text)
RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT p_check LIKE 'if:%' AND p_metric IN ('in_bps', 'out_bps');
$$;

-- The partition of p_tier that holds p_at, made if it is not there yet.
-- Rows of its range that are in the default partition move into it
-- (PostgreSQL refuses the new partition otherwise).  Returns its name.
CREATE OR REPLACE FUNCTION metric_partition_ensure(p_tier text,
    p_at timestamptz) RETURNS text
LANGUAGE plpgsql SET timezone = 'UTC' AS $$
DECLARE
	t metric_tier;
	v_lo timestamptz;
	v_hi timestamptz;
	v_name text;
BEGIN
	SELECT * INTO STRICT t FROM metric_tier WHERE tier = p_tier;
	v_lo := date_bin(t.span, p_at, timestamptz '2000-01-03 00:00+00');
	v_hi := v_lo + t.span;
	SELECT name INTO v_name FROM metric_partition
	WHERE tier = p_tier AND lo = v_lo;
	IF FOUND THEN
		RETURN v_name;
	END IF;
	v_name := t.tbl || '_' || to_char(v_lo, CASE WHEN t.span < '1 day'
	    THEN 'YYYYMMDD"t"HH24MI' ELSE 'YYYYMMDD' END);
	EXECUTE format('CREATE TEMP TABLE metric_moved ON COMMIT DROP AS '
	    'SELECT * FROM %I LIMIT 0', t.tbl || '_late');
	EXECUTE format('WITH d AS (DELETE FROM %I WHERE %I >= $1 AND %I < $2 '
	    'RETURNING *) INSERT INTO metric_moved SELECT * FROM d',
	    t.tbl || '_late', t.col, t.col) USING v_lo, v_hi;
	EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) '
	    'TO (%L)', v_name, t.tbl, v_lo, v_hi);
	EXECUTE format('INSERT INTO %I SELECT * FROM metric_moved', v_name);
	DROP TABLE metric_moved;
	INSERT INTO metric_partition (name, tier, lo, hi)
	VALUES (v_name, p_tier, v_lo, v_hi);
	RETURN v_name;
END
$$;

-- Packs the bins in the temporary table metric_bins (series, start, bin,
-- n, lo, hi, sum, last, last_t: bin counted from 0, last_t in ms after
-- start) into rows of p_bins bins each in p_tbl, with the totals of the
-- row's bins, after making the partitions they go to.
CREATE OR REPLACE FUNCTION metric_bins_store(p_tier text, p_bins integer)
RETURNS bigint LANGUAGE plpgsql SET timezone = 'UTC' AS $$
DECLARE
	v_tbl text := (SELECT tbl FROM metric_tier WHERE tier = p_tier);
	v_rows bigint;
BEGIN
	PERFORM metric_partition_ensure(p_tier, d.start)
	FROM (SELECT DISTINCT b.start FROM metric_bins b) AS d;
	EXECUTE format($q$
	INSERT INTO %I (series, start, n, lo, hi, sum, last, last_t, all_n,
	    all_lo, all_hi, all_sum)
	SELECT k.series, k.start,
	    array_agg(coalesce(b.n, 0) ORDER BY g.i),
	    array_agg(b.lo ORDER BY g.i), array_agg(b.hi ORDER BY g.i),
	    array_agg(b.sum ORDER BY g.i), array_agg(b.last ORDER BY g.i),
	    array_agg(b.last_t ORDER BY g.i), sum(b.n)::integer, min(b.lo),
	    max(b.hi), sum(b.sum)
	FROM (SELECT DISTINCT series, start FROM metric_bins) AS k
	CROSS JOIN generate_series(0, $1 - 1) AS g(i)
	LEFT JOIN metric_bins b ON b.series = k.series AND b.start = k.start
	    AND b.bin = g.i
	GROUP BY k.series, k.start$q$, v_tbl) USING p_bins;
	GET DIAGNOSTICS v_rows = ROW_COUNT;
	-- rows per partition, for metric_status's bytes per row
	UPDATE metric_partition p SET samples = p.samples + c.rows
	FROM (SELECT d.start, count(*) AS rows
	      FROM (SELECT DISTINCT series, start FROM metric_bins) AS d
	      GROUP BY 1) AS c
	WHERE p.tier = p_tier AND p.lo <= c.start AND p.hi > c.start;
	DROP TABLE metric_bins;
	RETURN v_rows;
END
$$;

-- Folds the samples of p_src (a table or a subquery in parentheses with
-- ts, host, check_name, metric and value) into metric_raw and metric_5m,
-- and into metric_1h as well for days that were folded already (samples
-- that came late).  Samples older than a tier keeps are left out of it.
-- Returns the number of samples.
CREATE OR REPLACE FUNCTION metric_fold_samples(p_src text)
RETURNS bigint LANGUAGE plpgsql SET timezone = 'UTC' AS $$
DECLARE
	v_samples bigint;
	v_raw interval := (SELECT keep FROM metric_tier WHERE tier = 'raw');
	v_5m interval := (SELECT keep FROM metric_tier WHERE tier = '5m');
	v_1h interval := (SELECT keep FROM metric_tier WHERE tier = '1h');
	v_day timestamptz := (SELECT day_done FROM metric_fold);
BEGIN
	-- new series first; only the missing ones ask the sequence
	EXECUTE format('INSERT INTO metric_series (host, check_name, metric) '
	    'SELECT DISTINCT src.host, src.check_name, src.metric FROM %s src '
	    'WHERE NOT EXISTS (SELECT 1 FROM metric_series s '
	    'WHERE s.host = src.host AND s.check_name = src.check_name '
	    'AND s.metric = src.metric) ON CONFLICT DO NOTHING', p_src);
	EXECUTE format($q$
	CREATE TEMP TABLE metric_chunk ON COMMIT DROP AS
	SELECT s.id AS series, c.start,
	    array_agg(c.ms ORDER BY c.ms) AS t,
	    array_agg(c.value ORDER BY c.ms) AS v
	FROM (SELECT src.*, date_trunc('hour', src.ts) AS start,
	        floor(extract(epoch FROM src.ts - date_trunc('hour', src.ts))
	            * 1000)::integer AS ms
	      FROM %s src) AS c
	JOIN metric_series s ON s.host = c.host
	    AND s.check_name = c.check_name AND s.metric = c.metric
	WHERE c.start >= now() - $1
	GROUP BY s.id, c.start$q$, p_src) USING greatest(v_raw, v_5m, v_1h);
	SELECT coalesce(sum(cardinality(t)), 0) INTO v_samples
	FROM metric_chunk;
	IF v_samples = 0 THEN
		DROP TABLE metric_chunk;
		RETURN 0;
	END IF;
	PERFORM metric_partition_ensure('raw', d.start)
	FROM (SELECT DISTINCT date_trunc('day', start) AS start
	      FROM metric_chunk WHERE start >= now() - v_raw) AS d;
	INSERT INTO metric_raw SELECT series, start, t, v FROM metric_chunk
	WHERE start >= now() - v_raw;
	UPDATE metric_partition p SET samples = p.samples + c.samples
	FROM (SELECT date_trunc('day', start) AS day, sum(cardinality(t))
	          AS samples
	      FROM metric_chunk WHERE start >= now() - v_raw GROUP BY 1) AS c
	WHERE p.tier = 'raw' AND p.lo = c.day;
	-- each hour's twelve 5-minute bins
	CREATE TEMP TABLE metric_bins ON COMMIT DROP AS
	SELECT c.series, c.start, b.*
	FROM metric_chunk c CROSS JOIN LATERAL (
	    SELECT u.ms / 300000 AS bin, count(*)::integer AS n,
	        min(u.x) AS lo, max(u.x) AS hi, sum(u.x) AS sum,
	        (array_agg(u.x ORDER BY u.ms DESC))[1] AS last,
	        max(u.ms) AS last_t
	    FROM unnest(c.t, c.v) AS u(ms, x) GROUP BY 1) AS b
	WHERE c.start >= now() - v_5m;
	PERFORM metric_bins_store('5m', 12);
	-- late samples of a day already in metric_1h: a row of their own
	IF EXISTS (SELECT 1 FROM metric_chunk WHERE start < v_day) THEN
		CREATE TEMP TABLE metric_bins ON COMMIT DROP AS
		SELECT c.series, date_trunc('day', c.start) AS start,
		    extract(hour FROM c.start)::integer AS bin,
		    cardinality(c.t) AS n, b.lo, b.hi, b.sum,
		    c.v[cardinality(c.v)] AS last,
		    c.t[cardinality(c.t)] + (extract(hour FROM c.start)
		        * 3600000)::integer AS last_t
		FROM metric_chunk c CROSS JOIN LATERAL (
		    SELECT min(x) AS lo, max(x) AS hi, sum(x) AS sum
		    FROM unnest(c.v) AS x) AS b
		WHERE c.start < v_day AND c.start >= now() - v_1h;
		PERFORM metric_bins_store('1h', 24);
	END IF;
	DROP TABLE metric_chunk;
	RETURN v_samples;
END
$$;

-- The hourly bins of one day, from its 5-minute ones, into metric_1h.
CREATE OR REPLACE FUNCTION metric_fold_day(p_day timestamptz)
RETURNS bigint LANGUAGE plpgsql SET timezone = 'UTC' AS $$
BEGIN
	CREATE TEMP TABLE metric_bins ON COMMIT DROP AS
	SELECT f.series, p_day AS start, f.bin, sum(f.n)::integer AS n,
	    min(f.lo) AS lo, max(f.hi) AS hi, sum(f.sum) AS sum,
	    (array_agg(f.last ORDER BY f.last_t DESC))[1] AS last,
	    max(f.last_t) AS last_t
	FROM (SELECT m.series,
	          extract(hour FROM m.start)::integer AS bin, u.n, u.lo, u.hi,
	          u.sum, u.last, (extract(epoch FROM m.start - p_day) * 1000
	              + u.last_t)::integer AS last_t
	      FROM metric_5m m CROSS JOIN LATERAL unnest(m.n, m.lo, m.hi,
	          m.sum, m.last, m.last_t) AS u(n, lo, hi, sum, last, last_t)
	      WHERE m.start >= p_day AND m.start < p_day + interval '1 day'
	        AND u.n > 0) AS f
	GROUP BY f.series, f.bin;
	RETURN metric_bins_store('1h', 24);
END
$$;

-- One step of the store's upkeep, the first of these that has work:
-- partitions made ahead; those past their retention dropped; the hour
-- that is over detached from metric_incoming, then folded and dropped;
-- the day that is over folded into hours; samples that came late folded;
-- an hour of metric_sample's old rows folded; traps that came late or
-- from before the upgrade put into their partitions.  Returns what it
-- did, or NULL when there is nothing to do (or another session is at it).
CREATE OR REPLACE FUNCTION metric_maintain()
RETURNS text LANGUAGE plpgsql
SET timezone = 'UTC' SET lock_timeout = '2s' AS $$
DECLARE
	f metric_fold;
	t metric_tier;
	p metric_partition;
	v_did text := '';
	v_n bigint;
	v_src text;
	v_at timestamptz;
	c_grace constant interval := '2 minutes';
BEGIN
	IF NOT pg_try_advisory_xact_lock(hashtext('metric_maintain')) THEN
		RETURN NULL;
	END IF;
	SELECT * INTO STRICT f FROM metric_fold FOR UPDATE;
	-- partitions ahead
	FOR t IN SELECT * FROM metric_tier WHERE ahead > '0' ORDER BY tier
	LOOP
		FOR v_at IN SELECT generate_series(now(), now() + t.ahead,
		    t.span) LOOP
			IF NOT EXISTS (SELECT 1 FROM metric_partition m
			    WHERE m.tier = t.tier AND m.lo <= v_at
			      AND m.hi > v_at) THEN
				v_did := v_did || ' made '
				    || metric_partition_ensure(t.tier, v_at);
			END IF;
		END LOOP;
	END LOOP;
	IF v_did <> '' THEN
		RETURN ltrim(v_did);
	END IF;
	-- past retention: a partition at a time, then what the default holds
	SELECT m.* INTO p FROM metric_partition m JOIN metric_tier k USING (tier)
	WHERE k.keep IS NOT NULL AND m.hi <= now() - k.keep
	ORDER BY m.lo LIMIT 1;
	IF FOUND THEN
		-- interface traffic kept longer: its rows copied out first
		SELECT * INTO t FROM metric_tier WHERE tier = '1h_long';
		IF p.tier = '1h' AND p.hi > now() - t.keep THEN
			PERFORM metric_partition_ensure('1h_long', p.lo);
			EXECUTE format('INSERT INTO metric_1h_long SELECT m.* '
			    'FROM %I m JOIN metric_series s ON s.id = m.series '
			    'WHERE metric_series_long(s.check_name, s.metric)',
			    p.name);
			GET DIAGNOSTICS v_n = ROW_COUNT;
			UPDATE metric_partition SET samples = samples + v_n
			WHERE tier = '1h_long' AND lo = p.lo;
		END IF;
		EXECUTE format('ALTER TABLE %I DETACH PARTITION %I',
		    (SELECT tbl FROM metric_tier WHERE tier = p.tier), p.name);
		EXECUTE format('DROP TABLE %I', p.name);
		DELETE FROM metric_partition WHERE name = p.name;
		RETURN 'dropped ' || p.name;
	END IF;
	-- the hour that is over: detached first, in a short transaction of
	-- its own, as detaching locks out monitord's COPY while it lasts
	IF f.hour_done + interval '1 hour' + c_grace <= now() THEN
		v_did := '';
		FOR p IN SELECT * FROM metric_partition
		    WHERE tier = 'incoming' AND lo < f.hour_done + interval '1 hour'
		      AND name IN (SELECT c.relname FROM pg_inherits i
		          JOIN pg_class c ON c.oid = i.inhrelid
		          WHERE i.inhparent = 'metric_incoming'::regclass) LOOP
			EXECUTE format('ALTER TABLE metric_incoming DETACH '
			    'PARTITION %I', p.name);
			v_did := v_did || ' ' || p.name;
		END LOOP;
		IF v_did <> '' THEN
			RETURN 'detached' || v_did;
		END IF;
		SELECT string_agg(format('SELECT * FROM %I', name), ' UNION ALL ')
		INTO v_src FROM metric_partition
		WHERE tier = 'incoming' AND lo < f.hour_done + interval '1 hour';
		v_n := 0;
		IF v_src IS NOT NULL THEN
			v_n := metric_fold_samples('(' || v_src || ')');
			FOR p IN SELECT * FROM metric_partition
			    WHERE tier = 'incoming'
			      AND lo < f.hour_done + interval '1 hour' LOOP
				EXECUTE format('DROP TABLE %I', p.name);
				DELETE FROM metric_partition WHERE name = p.name;
			END LOOP;
		END IF;
		UPDATE metric_fold SET hour_done = f.hour_done + interval '1 hour',
		    last_fold = jsonb_build_object('hour', f.hour_done,
		        'samples', v_n, 'seconds',
		        extract(epoch FROM clock_timestamp() - now()));
		RETURN format('folded %s samples of %s', v_n, f.hour_done);
	END IF;
	-- the day that is over
	IF f.day_done + interval '1 day' <= f.hour_done THEN
		v_n := metric_fold_day(f.day_done);
		UPDATE metric_fold SET day_done = f.day_done + interval '1 day';
		RETURN format('folded %s series of %s into hours', v_n,
		    f.day_done::date);
	END IF;
	-- samples that came after their hour was folded
	IF EXISTS (SELECT 1 FROM metric_incoming_late
	    WHERE ts < f.hour_done) THEN
		CREATE TEMP TABLE metric_late ON COMMIT DROP AS
		SELECT * FROM metric_incoming_late LIMIT 0;
		WITH d AS (DELETE FROM metric_incoming_late
		    WHERE ts < f.hour_done RETURNING *)
		INSERT INTO metric_late SELECT * FROM d;
		v_n := metric_fold_samples('metric_late');
		DROP TABLE metric_late;
		RETURN format('folded %s samples that came late', v_n);
	END IF;
	-- metric_sample's rows from before the upgrade, an hour at a time
	IF f.legacy_next >= f.hour_done THEN
		-- the newest, of the hour not yet folded: where such rows go now
		INSERT INTO metric_incoming SELECT * FROM metric_legacy
		WHERE ts >= f.legacy_next;
		GET DIAGNOSTICS v_n = ROW_COUNT;
		TRUNCATE metric_legacy;
		UPDATE metric_fold SET legacy_next = NULL;
		RETURN format('moved %s samples kept from before 019', v_n);
	ELSIF f.legacy_next IS NOT NULL THEN
		v_at := least(date_trunc('hour', f.legacy_next)
		    + interval '1 hour', f.hour_done);
		v_n := metric_fold_samples(format('(SELECT * FROM metric_legacy '
		    'WHERE ts >= %L AND ts < %L)', f.legacy_next, v_at));
		SELECT min(ts) INTO v_at FROM metric_legacy WHERE ts >= v_at;
		IF v_at IS NULL THEN
			TRUNCATE metric_legacy;
		END IF;
		UPDATE metric_fold SET legacy_next = v_at;
		RETURN format('folded %s samples kept from before 019', v_n);
	END IF;
	-- traps in the default partition: gone if older than kept (first, so
	-- that a partition made for the others does not take them along),
	-- else into their own
	DELETE FROM trap_event_late WHERE received_at < now()
	    - (SELECT keep FROM metric_tier WHERE tier = 'traps');
	GET DIAGNOSTICS v_n = ROW_COUNT;
	IF v_n > 0 THEN
		RETURN format('dropped %s old traps', v_n);
	END IF;
	SELECT min(received_at) INTO v_at FROM trap_event_late;
	IF v_at IS NOT NULL THEN
		RETURN 'made ' || metric_partition_ensure('traps', v_at);
	END IF;
	RETURN NULL;
END
$$;

-- The series of one host, as (check_name, metric): those folded, those of
-- the last hour and those still in metric_sample's old rows.
CREATE OR REPLACE FUNCTION metric_host_series(p_host text)
RETURNS TABLE (check_name text, metric text) LANGUAGE sql STABLE AS $$
	SELECT s.check_name, s.metric FROM metric_series s
	WHERE s.host = p_host
	UNION
	SELECT DISTINCT i.check_name, i.metric FROM metric_incoming i
	WHERE i.host = p_host
	UNION
	-- each (check, metric) once: a skip along the index
	(WITH RECURSIVE m AS (
	    (SELECT l.check_name, l.metric FROM metric_legacy l
	     WHERE l.host = p_host ORDER BY l.check_name, l.metric LIMIT 1)
	    UNION ALL
	    SELECT n.check_name, n.metric FROM m CROSS JOIN LATERAL (
		SELECT l.check_name, l.metric FROM metric_legacy l
		WHERE l.host = p_host AND (l.check_name, l.metric) >
		    (m.check_name, m.metric)
		ORDER BY l.check_name, l.metric LIMIT 1) AS n)
	SELECT * FROM m);
$$;

-- A time in whole milliseconds since the epoch, rounded down so that the
-- order of two times is kept (a double is exact to far below a
-- millisecond for the times of this century).  STABLE as date_part is,
-- so that a query takes it in as an expression instead of calling it.
CREATE OR REPLACE FUNCTION metric_ms(p_at timestamptz) RETURNS bigint
LANGUAGE sql STABLE PARALLEL SAFE AS $$
	SELECT floor(date_part('epoch', p_at) * 1000)::bigint;
$$;

-- The values of one host's series between p_from and p_to, gathered into
-- steps of p_step counted from p_from (step 0 the first), as (check_name,
-- metric, step, n, lo, hi, sum): a step's count, lowest, highest and sum.
-- One step may come in several rows (one per chunk or row of bins it is
-- read from), which a reader adds up.  A NULL p_check or p_metric means
-- every one.  p_tier is where it reads: 'raw' (samples), '5m' or '1h'
-- (bins); the time that tier does not hold yet comes from the finer
-- ones.  metric_incoming is read over the whole range: a row there is
-- never folded yet (a late one is deleted in the fold that takes it),
-- and a sample that comes late for an hour already folded must show
-- before the upkeep gets to it.  A day of a host's ten graphs is 86,400
-- samples: each chunk is summed up on its own, in integer milliseconds
-- from p_from, its offset worked out once.
CREATE OR REPLACE FUNCTION metric_steps(p_host text, p_check text,
    p_metric text, p_from timestamptz, p_to timestamptz, p_step interval,
    p_tier text)
RETURNS TABLE (check_name text, metric text, step bigint, n integer,
    lo double precision, hi double precision, sum double precision)
LANGUAGE plpgsql STABLE SET timezone = 'UTC' AS $$
#variable_conflict use_column
DECLARE
	f metric_fold;
	v_from bigint := metric_ms(p_from);
	v_span bigint := metric_ms(p_to) - metric_ms(p_from);
	v_step bigint := greatest(1, metric_ms('epoch'::timestamptz + p_step));
	v_tbl text;
	v_bin bigint;
	v_lo timestamptz;
	v_hi timestamptz;
BEGIN
	SELECT * INTO STRICT f FROM metric_fold;
	IF p_tier = 'raw' THEN
		RETURN QUERY SELECT s.check_name, s.metric, x.step, x.n, x.lo,
		    x.hi, x.sum
		FROM metric_series s JOIN metric_raw r ON r.series = s.id
		CROSS JOIN LATERAL (SELECT metric_ms(r.start) - v_from AS o
		    OFFSET 0) AS k
		CROSS JOIN LATERAL (SELECT (k.o + u.t) / v_step AS step,
		    count(*)::integer AS n, min(u.v) AS lo, max(u.v) AS hi,
		    sum(u.v) AS sum
		    FROM unnest(r.t, r.v) AS u(t, v)
		    WHERE k.o + u.t >= 0 AND k.o + u.t < v_span
		    GROUP BY 1) AS x
		WHERE s.host = p_host
		  AND s.check_name = coalesce(p_check, s.check_name)
		  AND s.metric = coalesce(p_metric, s.metric)
		  AND r.start >= date_trunc('hour', p_from)
		  AND r.start < least(p_to, f.hour_done);
	END IF;
	-- the hourly bins of the days folded, the 5-minute ones of the hours
	-- folded after them (or from the start, for the 5-minute tier)
	FOR v_tbl, v_bin, v_lo, v_hi IN
	    SELECT 'metric_1h', 3600000, date_trunc('day', p_from),
	        least(p_to, f.day_done)
	    WHERE p_tier = '1h'
	    UNION ALL
	    -- the interface traffic of days whose metric_1h partition is gone
	    SELECT 'metric_1h_long', 3600000, date_trunc('day', p_from),
	        least(p_to, f.day_done)
	    WHERE p_tier = '1h'
	    UNION ALL
	    SELECT 'metric_5m', 300000, CASE p_tier WHEN '1h' THEN
	        greatest(date_trunc('hour', p_from), f.day_done) ELSE
	        date_trunc('hour', p_from) END, least(p_to, f.hour_done)
	    WHERE p_tier IN ('5m', '1h')
	LOOP
		-- a row that lies in one step gives its totals; one across
		-- steps or the range's ends, its bins
		RETURN QUERY EXECUTE format($q$
		SELECT s.check_name, s.metric, x.step, x.n, x.lo, x.hi, x.sum
		FROM metric_series s JOIN %I m ON m.series = s.id
		CROSS JOIN LATERAL (SELECT k.o, m.all_n IS NOT NULL
		    AND k.o >= 0 AND k.o + $6 * $7 <= $5
		    AND k.o / $4 = (k.o + $6 * $7 - 1) / $4 AS whole
		    FROM (SELECT metric_ms(m.start) - $3 AS o) AS k
		    OFFSET 0) AS k
		CROSS JOIN LATERAL (
		    SELECT k.o / $4 AS step, m.all_n AS n, m.all_lo AS lo,
		        m.all_hi AS hi, m.all_sum AS sum
		    WHERE k.whole AND m.all_n > 0
		    UNION ALL
		    SELECT (k.o + (u.i - 1) * $6) / $4, sum(u.n)::integer,
		        min(u.lo), max(u.hi), sum(u.sum)
		    FROM unnest(m.n, m.lo, m.hi, m.sum) WITH ORDINALITY
		        AS u(n, lo, hi, sum, i)
		    WHERE NOT k.whole AND u.n > 0
		      AND k.o + (u.i - 1) * $6 >= 0
		      AND k.o + (u.i - 1) * $6 < $5
		    GROUP BY 1) AS x
		WHERE s.host = $1
		  AND s.check_name = coalesce($2, s.check_name)
		  AND s.metric = coalesce($8, s.metric)
		  AND m.start >= $9 AND m.start < $10$q$, v_tbl)
		USING p_host, p_check, v_from, v_step, v_span, v_bin,
		    CASE v_tbl WHEN 'metric_5m' THEN 12 ELSE 24 END, p_metric,
		    v_lo, v_hi;
	END LOOP;
	RETURN QUERY SELECT i.check_name, i.metric,
	    (metric_ms(i.ts) - v_from) / v_step, count(*)::integer,
	    min(i.value), max(i.value), sum(i.value)
	FROM metric_incoming i
	WHERE i.host = p_host AND i.check_name = coalesce(p_check, i.check_name)
	  AND i.metric = coalesce(p_metric, i.metric)
	  AND i.ts >= p_from AND i.ts < p_to
	GROUP BY 1, 2, 3;
	IF f.legacy_next IS NOT NULL THEN
		RETURN QUERY SELECT l.check_name, l.metric,
		    (metric_ms(l.ts) - v_from) / v_step, count(*)::integer,
		    min(l.value), max(l.value), sum(l.value)
		FROM metric_legacy l
		WHERE l.host = p_host
		  AND l.check_name = coalesce(p_check, l.check_name)
		  AND l.metric = coalesce(p_metric, l.metric)
		  AND l.ts >= greatest(p_from, f.legacy_next) AND l.ts < p_to
		GROUP BY 1, 2, 3;
	END IF;
END
$$;

-- The samples or bins themselves, to the millisecond: (check_name,
-- metric, ts, n, lo, hi, sum) as metric_steps gives them in steps of a
-- millisecond.  A sample is n = 1 and its value three times.
CREATE OR REPLACE FUNCTION metric_read(p_host text, p_check text,
    p_metric text, p_from timestamptz, p_to timestamptz, p_tier text)
RETURNS TABLE (check_name text, metric text, ts timestamptz, n integer,
    lo double precision, hi double precision, sum double precision)
LANGUAGE sql STABLE AS $$
	SELECT m.check_name, m.metric,
	    p_from + m.step * interval '1 millisecond', m.n, m.lo, m.hi, m.sum
	FROM metric_steps(p_host, p_check, p_metric, p_from, p_to,
	    interval '1 millisecond', p_tier) AS m;
$$;

-- The graphs of one host's series (every one where p_check or p_metric
-- is NULL) from p_from to p_to in steps of p_step, read from p_tier:
-- (check_name, metric, points), points a JSON array of [epoch seconds,
-- mean, lowest, highest] per step that has data.  Where no sample came
-- for more than 2.5 times the series' usual spacing of points (and 1.5
-- steps), a point of nulls in the middle marks the gap.
CREATE OR REPLACE FUNCTION metric_points(p_host text, p_check text,
    p_metric text, p_from timestamptz, p_to timestamptz, p_step interval,
    p_tier text)
RETURNS TABLE (check_name text, metric text, points jsonb)
LANGUAGE sql STABLE AS $$
	WITH b AS (
	    SELECT m.check_name, m.metric, m.step,
	        sum(m.sum) / sum(m.n) AS mean, min(m.lo) AS lo,
	        max(m.hi) AS hi
	    FROM metric_steps(p_host, p_check, p_metric, p_from, p_to, p_step,
	        p_tier) AS m
	    GROUP BY 1, 2, 3),
	g AS (SELECT b.*, b.step - lag(b.step) OVER (PARTITION BY
	          b.check_name, b.metric ORDER BY b.step) AS gap
	      FROM b),
	usual AS (SELECT g.check_name, g.metric,
	              percentile_disc(0.5) WITHIN GROUP (ORDER BY g.gap) AS gap
	          FROM g GROUP BY 1, 2),
	p AS (SELECT g.check_name, g.metric, g.step::float8 AS at,
	          g.mean, g.lo, g.hi
	      FROM g
	      UNION ALL
	      SELECT g.check_name, g.metric, g.step - g.gap / 2.0, NULL, NULL,
	          NULL
	      FROM g JOIN usual u ON u.check_name = g.check_name
	          AND u.metric = g.metric
	      WHERE g.gap > greatest(u.gap * 2.5, 1.5))
	SELECT p.check_name, p.metric,
	    jsonb_agg(jsonb_build_array(round(extract(epoch FROM p_from)
	        + p.at * extract(epoch FROM p_step))::bigint, p.mean, p.lo,
	        p.hi) ORDER BY p.at)
	FROM p GROUP BY 1, 2;
$$;

-- The rows of a table: the planner's estimate, or a count where it has
-- none yet (a table never analysed, which is a small one).
CREATE OR REPLACE FUNCTION metric_rows(p_rel oid) RETURNS double precision
LANGUAGE plpgsql STABLE AS $$
DECLARE
	v_rows double precision := (SELECT reltuples FROM pg_class
	    WHERE oid = p_rel);
BEGIN
	IF v_rows < 0 THEN
		EXECUTE format('SELECT count(*) FROM %s', p_rel::regclass)
		INTO v_rows;
	END IF;
	RETURN v_rows;
END
$$;

-- What the store holds and what it will hold once every tier is full:
-- for incidentctl metrics status.  The rate is that of the last hour
-- folded; bytes per row are those of the partitions so far, which a store
-- of a few hours overstates (a partition's pages are mostly empty).
CREATE OR REPLACE FUNCTION metric_status()
RETURNS jsonb LANGUAGE plpgsql STABLE SET timezone = 'UTC' AS $$
DECLARE
	f metric_fold;
	v_series bigint := (SELECT count(*) FROM metric_series);
	v_long bigint := (SELECT count(*) FROM metric_series
	    WHERE metric_series_long(check_name, metric));
	v_1h record;
	v_rate double precision;
	v_tiers jsonb := '[]';
	t record;
BEGIN
	SELECT * INTO STRICT f FROM metric_fold;
	v_rate := coalesce((f.last_fold->>'samples')::float8 / 3600, 0);
	-- what a day of one series' hourly bins takes, for metric_1h_long
	-- before it holds any
	SELECT k.keep, (SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)
	        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
	        WHERE i.inhparent = k.tbl::regclass)
	    / nullif((SELECT sum(samples) FROM metric_partition
	        WHERE tier = '1h'), 0) AS row_bytes
	INTO v_1h FROM metric_tier k WHERE k.tier = '1h';
	FOR t IN
		SELECT k.tier, k.keep, k.span, count(m.name) AS partitions,
		    coalesce(sum(m.samples), 0) AS samples,
		    (SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)
		     FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		     WHERE i.inhparent = k.tbl::regclass) AS bytes,
		    (SELECT coalesce(sum(metric_rows(c.oid)), 0)
		     FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		     WHERE i.inhparent = k.tbl::regclass) AS est_rows
		FROM metric_tier k LEFT JOIN metric_partition m USING (tier)
		GROUP BY k.tier, k.keep, k.span, k.tbl
		ORDER BY array_position(ARRAY['incoming', 'raw', '5m', '1h',
		    '1h_long', 'traps'], k.tier)
	LOOP
		v_tiers := v_tiers || jsonb_build_object('tier', t.tier,
		    'keep_s', extract(epoch FROM t.keep),
		    'partitions', t.partitions, 'bytes', t.bytes,
		    -- samples (raw), rows of bins (5m, 1h, 1h_long), rows
		    -- (the others)
		    'rows', CASE WHEN t.tier IN ('raw', '5m', '1h', '1h_long')
		        THEN t.samples ELSE t.est_rows END,
		    'bytes_per_row', CASE WHEN t.tier IN ('raw', '5m', '1h',
		        '1h_long')
		        AND t.samples > 0 THEN t.bytes / t.samples
		        WHEN t.est_rows > 0 THEN t.bytes / t.est_rows END,
		    -- at steady state: samples a second times the time kept
		    -- (raw); a row per series and hour (5m) or day (1h); a
		    -- row per interface series and day past 1h's retention
		    -- (1h_long), at 1h's bytes; the hour and more that waits
		    -- to be folded (incoming)
		    'steady_bytes', CASE
		        WHEN t.tier = 'raw' AND t.samples > 0 THEN v_rate
		            * extract(epoch FROM t.keep) * t.bytes / t.samples
		        WHEN t.tier = '5m' AND t.samples > 0 THEN v_series
		            * extract(epoch FROM t.keep) / 3600
		            * t.bytes / t.samples
		        WHEN t.tier = '1h' AND t.samples > 0 THEN v_series
		            * extract(epoch FROM t.keep) / 86400
		            * t.bytes / t.samples
		        WHEN t.tier = '1h_long' AND (v_long = 0
		            OR t.keep <= v_1h.keep) THEN 0
		        WHEN t.tier = '1h_long' THEN v_long
		            * extract(epoch FROM t.keep - v_1h.keep) / 86400
		            * v_1h.row_bytes
		        WHEN t.tier = 'incoming' AND t.est_rows > 0 THEN v_rate
		            * 4800 * t.bytes / t.est_rows
		        END);
	END LOOP;
	RETURN jsonb_build_object('series', v_series,
	    'samples_per_s', v_rate, 'hour_done', f.hour_done,
	    'day_done', f.day_done, 'legacy_next', f.legacy_next,
	    'last_fold', f.last_fold, 'tiers', v_tiers,
	    'legacy_bytes', pg_total_relation_size('metric_legacy'));
END
$$;
