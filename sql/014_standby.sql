-- 014: incidentd active and standby.  Any number of incidentd may run
-- against one database; the one whose session holds the advisory lock
-- incidentd_active_key() ingests, reminds, escalates and sends, and the
-- others wait to take the lock, which PostgreSQL releases the moment the
-- holder's connection ends.  They share one cursor, so the one taking over
-- goes on exactly where the other stopped; the cursor's row lock keeps two
-- from applying the same event even should they overlap.

CREATE FUNCTION incidentd_active_key() RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$ SELECT 4827390115::bigint $$;

-- The shared cursor's name.  An older database kept one cursor per
-- instance: the shared one starts where the furthest of them is.
CREATE OR REPLACE FUNCTION incident_ingest(p_consumer text, p_recipients jsonb,
    p_limit integer DEFAULT 500)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
	v_cursor bigint;
	v_ev state_event;
	v_events integer := 0;
	v_queued integer := 0;
BEGIN
	INSERT INTO incidentd_cursor (consumer, last_event_id)
	SELECT 'incidentd', coalesce(max(last_event_id), 0)
	FROM incidentd_cursor
	ON CONFLICT (consumer) DO NOTHING;
	SELECT last_event_id INTO v_cursor FROM incidentd_cursor
	WHERE consumer = 'incidentd' FOR UPDATE;

	FOR v_ev IN SELECT * FROM state_event WHERE id > v_cursor
	    ORDER BY id LIMIT p_limit LOOP
		v_queued := v_queued + incident_apply_event(v_ev, p_consumer,
		    p_recipients);
		v_cursor := v_ev.id;
		v_events := v_events + 1;
	END LOOP;

	IF v_events > 0 THEN
		UPDATE incidentd_cursor SET last_event_id = v_cursor,
		    updated_at = now()
		WHERE consumer = 'incidentd';
	END IF;
	IF v_queued > 0 THEN
		PERFORM pg_notify('notification', '');
	END IF;
	RETURN v_events;
END
$$;

-- Takes the active role for this session if no other session has it.
CREATE FUNCTION incidentd_try_active() RETURNS boolean
LANGUAGE sql AS $$ SELECT pg_try_advisory_lock(incidentd_active_key()) $$;

-- The backend pid of the active incidentd, NULL if none: for incidentctl
-- and the tests.
CREATE FUNCTION incidentd_active_pid() RETURNS integer
LANGUAGE sql STABLE AS $$
	SELECT pid FROM pg_locks
	WHERE locktype = 'advisory' AND granted
	  AND ((classid::bigint << 32) | objid::bigint) = incidentd_active_key()
	  AND objsubid = 1
$$;
