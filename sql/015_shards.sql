-- 015: several monitord share the hosts.  A host belongs to a network
-- segment that one poller is pinned to (a separated network only it can
-- reach), or else to one of 256 hash shards.  Each poller's session holds
-- a shared "member" advisory lock and an exclusive advisory lock per shard
-- it probes; PostgreSQL releases them the moment a session ends, so a dead
-- poller's shards are free at once.  Every few seconds each poller calls
-- poller_sync, which takes free shards or gives back extra ones until it
-- holds its share, ceil(256 / live members), preferring shards by a hash of
-- its name and the shard so that the split is stable.  No consensus of our
-- own: the locks are the whole protocol.

CREATE TABLE poller_member (
	instance     text PRIMARY KEY,
	pid          integer NOT NULL,          -- its database session
	pinned       text[] NOT NULL DEFAULT '{}',
	shards       integer[] NOT NULL DEFAULT '{}',
	started_at   timestamptz NOT NULL DEFAULT now(),
	heartbeat_at timestamptz NOT NULL DEFAULT now()
);

-- The advisory lock classes (first key): members, and shards by number.
CREATE FUNCTION poller_member_class() RETURNS integer
LANGUAGE sql IMMUTABLE AS $$ SELECT 1836019300 $$;
CREATE FUNCTION poller_shard_class() RETURNS integer
LANGUAGE sql IMMUTABLE AS $$ SELECT 1836019301 $$;

-- The sessions of the live pollers.
CREATE FUNCTION poller_live_pids() RETURNS SETOF integer
LANGUAGE sql STABLE AS $$
	SELECT DISTINCT pid FROM pg_locks
	WHERE locktype = 'advisory' AND granted AND objsubid = 2
	  AND classid = poller_member_class()::oid AND objid = 0
$$;

-- Joins (or stays in) the pool and rebalances this session's shards.
-- Returns the shards it now holds, how many pollers are live, and the
-- segments other pollers are pinned to.
CREATE FUNCTION poller_sync(p_instance text, p_pinned text[])
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
