-- What monitord writes: hard state changes (current_state, state_event and
-- the NOTIFY that wakes incidentd, in one transaction, idempotent by
-- (source, source_seq)), the windows of its downtimes, and, with several
-- pollers, the leases of the hash shards (advisory locks: PostgreSQL frees
-- them when a poller's session ends).

-- Records one hard state change: current_state (guarded by the source's
-- sequence), state_event, and a NOTIFY without payload (identical
-- notifications in one transaction collapse into one, so a batch wakes
-- incidentd once).  A change already recorded adds nothing.
CREATE OR REPLACE FUNCTION monitord_record_change(
	p_source text, p_seq bigint, p_host text, p_check text, p_kind text,
	p_segment text, p_old text, p_new text, p_output text,
	p_observed timestamptz)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	v_id bigint;
BEGIN
	PERFORM pg_advisory_xact_lock(hashtext('monitord.state_event'));
	INSERT INTO state_event (source, source_seq, host, check_name,
	    check_kind, segment, old_state, new_state, output, observed_at)
	VALUES (p_source, p_seq, p_host, p_check, p_kind, p_segment, p_old,
	    p_new, p_output, p_observed)
	ON CONFLICT (source, source_seq) DO NOTHING
	RETURNING id INTO v_id;
	IF v_id IS NULL THEN
		RETURN NULL;
	END IF;
	INSERT INTO current_state AS cs (host, check_name, check_kind, segment,
	    state, output, since, source, source_seq)
	VALUES (p_host, p_check, p_kind, p_segment, p_new, p_output,
	    p_observed, p_source, p_seq)
	ON CONFLICT (host, check_name) DO UPDATE
	SET check_kind = excluded.check_kind, segment = excluded.segment,
	    state = excluded.state, output = excluded.output,
	    since = excluded.since, source = excluded.source,
	    source_seq = excluded.source_seq, updated_at = now()
	WHERE cs.source <> excluded.source
	   OR cs.source_seq < excluded.source_seq;
	PERFORM pg_notify('state_event', '');
	RETURN v_id;
END
$$;

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
		        host_state text, root text, flapping boolean,
		        downtime text)
		ORDER BY e.i
	LOOP
		IF monitord_record_change_ex(p_source, v_r.seq, v_r.host,
		    v_r."check", v_r.kind, v_r.segment, v_r.old, v_r.new,
		    v_r.output, v_r.observed, v_r.host_state, v_r.root,
		    v_r.flapping, v_r.downtime) IS NOT NULL THEN
			v_n := v_n + 1;
		END IF;
	END LOOP;
	RETURN v_n;
END
$$;

-- Replaces the instance's windows that have not started yet with p_windows
-- (a JSON array of {name, comment, targets, starts, ends}); windows that
-- started are history and stay, a running one gets its new end.
CREATE OR REPLACE FUNCTION monitord_publish_downtime(p_source text, p_windows jsonb)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
	v_n integer;
BEGIN
	DELETE FROM downtime_window
	WHERE source = p_source AND starts_at > now();
	INSERT INTO downtime_window AS w (source, name, comment, targets,
	    starts_at, ends_at)
	SELECT p_source, x.name, coalesce(x.comment, ''), x.targets, x.starts,
	    x.ends
	FROM jsonb_to_recordset(p_windows) AS x(name text, comment text,
	    targets text, starts timestamptz, ends timestamptz)
	ON CONFLICT (source, name, starts_at) DO UPDATE
	SET ends_at = excluded.ends_at, comment = excluded.comment,
	    targets = excluded.targets, updated_at = now();
	GET DIAGNOSTICS v_n = ROW_COUNT;
	RETURN v_n;
END
$$;

-- monitord_record_change with what topology and the schedule add: the
-- host's state, the root-cause host a problem is covered by, whether the
-- check started or stopped flapping, and the downtime it falls in.
CREATE OR REPLACE FUNCTION monitord_record_change_ex(
	p_source text, p_seq bigint, p_host text, p_check text, p_kind text,
	p_segment text, p_old text, p_new text, p_output text,
	p_observed timestamptz, p_host_state text, p_root text,
	p_flapping boolean, p_downtime text)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	v_id bigint;
BEGIN
	PERFORM pg_advisory_xact_lock(hashtext('monitord.state_event'));
	INSERT INTO state_event (source, source_seq, host, check_name,
	    check_kind, segment, old_state, new_state, output, observed_at,
	    host_state, root_cause, flapping, downtime)
	VALUES (p_source, p_seq, p_host, p_check, p_kind, p_segment, p_old,
	    p_new, p_output, p_observed, p_host_state, p_root, p_flapping,
	    p_downtime)
	ON CONFLICT (source, source_seq) DO NOTHING
	RETURNING id INTO v_id;
	IF v_id IS NULL THEN
		RETURN NULL;
	END IF;
	INSERT INTO current_state AS cs (host, check_name, check_kind, segment,
	    state, output, since, source, source_seq, host_state, root_cause,
	    flapping, downtime)
	VALUES (p_host, p_check, p_kind, p_segment, p_new, p_output,
	    p_observed, p_source, p_seq, p_host_state, p_root,
	    coalesce(p_flapping, false), p_downtime)
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
	    downtime = excluded.downtime,
	    updated_at = now()
	WHERE cs.source <> excluded.source
	   OR cs.source_seq < excluded.source_seq;
	PERFORM pg_notify('state_event', '');
	RETURN v_id;
END
$$;

-- Whether a downtime window's targets ("hosts: a b; checks: h/c;
-- segments: finance", as monitord publishes them) cover a check.
CREATE OR REPLACE FUNCTION downtime_covers(p_targets text, p_host text, p_check text,
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

-- The advisory lock classes (first key): members, and shards by number.
CREATE OR REPLACE FUNCTION poller_member_class() RETURNS integer
LANGUAGE sql IMMUTABLE AS $$ SELECT 1836019300 $$;

CREATE OR REPLACE FUNCTION poller_shard_class() RETURNS integer
LANGUAGE sql IMMUTABLE AS $$ SELECT 1836019301 $$;

-- The sessions of the live pollers.
CREATE OR REPLACE FUNCTION poller_live_pids() RETURNS SETOF integer
LANGUAGE sql STABLE AS $$
	SELECT DISTINCT pid FROM pg_locks
	WHERE locktype = 'advisory' AND granted AND objsubid = 2
	  AND classid = poller_member_class()::oid AND objid = 0
$$;

-- Joins (or stays in) the pool and rebalances this session's shards.
-- Returns the shards it now holds, how many pollers are live, and the
-- segments other pollers are pinned to.
CREATE OR REPLACE FUNCTION poller_sync(p_instance text, p_pinned text[])
RETURNS TABLE (shards integer[], members integer, pinned_elsewhere text[])
LANGUAGE plpgsql AS $$
DECLARE
	v_me integer := pg_backend_pid();
	v_live integer;
	v_target integer;
	v_mine integer[];
	v_taken integer[];
	v_n integer;
	v_s integer;
BEGIN
	IF NOT EXISTS (SELECT 1 FROM poller_live_pids() p WHERE p = v_me) THEN
		PERFORM pg_advisory_lock_shared(poller_member_class(), 0);
	END IF;
	SELECT count(*) INTO v_live FROM poller_live_pids();
	v_target := ceil(256.0 / greatest(v_live, 1));
	SELECT coalesce(array_agg(objid::integer), '{}') INTO v_mine
	FROM pg_locks
	WHERE locktype = 'advisory' AND granted AND objsubid = 2
	  AND classid = poller_shard_class()::oid AND pid = v_me;
	v_n := cardinality(v_mine);
	IF v_n > v_target THEN
		-- give back the ones it prefers least
		FOR v_s IN SELECT s FROM unnest(v_mine) s
		    ORDER BY hashtext(p_instance || ':' || s), s
		    LIMIT v_n - v_target LOOP
			PERFORM pg_advisory_unlock(poller_shard_class(), v_s);
			v_n := v_n - 1;
		END LOOP;
	ELSIF v_n < v_target THEN
		SELECT coalesce(array_agg(objid::integer), '{}') INTO v_taken
		FROM pg_locks
		WHERE locktype = 'advisory' AND objsubid = 2
		  AND classid = poller_shard_class()::oid;
		FOR v_s IN SELECT s FROM generate_series(0, 255) s
		    WHERE s <> ALL (v_taken)
		    ORDER BY hashtext(p_instance || ':' || s) DESC, s LOOP
			EXIT WHEN v_n >= v_target;
			IF pg_try_advisory_lock(poller_shard_class(), v_s) THEN
				v_n := v_n + 1;
			END IF;
		END LOOP;
	END IF;
	SELECT coalesce(array_agg(objid::integer ORDER BY objid), '{}')
	INTO v_mine FROM pg_locks
	WHERE locktype = 'advisory' AND granted AND objsubid = 2
	  AND classid = poller_shard_class()::oid AND pid = v_me;
	INSERT INTO poller_member AS m (instance, pid, pinned, shards)
	VALUES (p_instance, v_me, coalesce(p_pinned, '{}'), v_mine)
	ON CONFLICT (instance) DO UPDATE
	SET pid = excluded.pid, pinned = excluded.pinned,
	    shards = excluded.shards, heartbeat_at = now(),
	    started_at = CASE WHEN m.pid = excluded.pid THEN m.started_at
			      ELSE now() END;
	-- A segment stays pinned to its poller while that one is down, for
	-- no other can reach it; deleting the poller's row unpins it.
	RETURN QUERY
	SELECT v_mine, v_live,
	    coalesce((SELECT array_agg(DISTINCT seg ORDER BY seg)
		FROM poller_member o, unnest(o.pinned) seg
		WHERE o.instance <> p_instance), '{}');
END
$$;
