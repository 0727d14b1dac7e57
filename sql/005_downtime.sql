-- 005: scheduled downtime.  monitord writes the windows of its downtimes
-- (one-off and recurring) for the coming weeks, so that the SLA reports can
-- tell planned work from faults; state changes during a window carry the
-- downtime's name.  Nothing is silenced here: states are still probed and
-- recorded.

ALTER TABLE state_event ADD COLUMN downtime text;
ALTER TABLE current_state ADD COLUMN downtime text;

-- One window of a downtime, as planned by a monitord instance.
CREATE TABLE downtime_window (
	source     text NOT NULL,
	name       text NOT NULL,
	comment    text NOT NULL DEFAULT '',
	targets    text NOT NULL,          -- "hosts: a, b; segments: finance"
	starts_at  timestamptz NOT NULL,
	ends_at    timestamptz NOT NULL,
	updated_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (source, name, starts_at),
	CHECK (ends_at > starts_at)
);
CREATE INDEX downtime_window_time ON downtime_window (starts_at, ends_at);

-- Replaces the instance's windows that have not started yet with p_windows
-- (a JSON array of {name, comment, targets, starts, ends}); windows that
-- started are history and stay, a running one gets its new end.
CREATE FUNCTION monitord_publish_downtime(p_source text, p_windows jsonb)
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

DROP FUNCTION monitord_record_change_ex(text, bigint, text, text, text,
    text, text, text, text, timestamptz, text, text, boolean);

-- As in 004, with the downtime a change falls in.
CREATE FUNCTION monitord_record_change_ex(
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
