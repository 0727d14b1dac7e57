-- 002: monitord records state changes in batches (one statement for up to
-- a thousand changes), and wakes incidentd once per batch.

-- As in 001, but the NOTIFY carries no payload: identical notifications in
-- one transaction collapse into one, so a batch wakes incidentd once.
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

-- Records a batch of changes, in order, in one transaction.  p_changes is
-- a JSON array of {seq, host, check, kind, segment, old, new, output,
-- observed}.  Returns how many were new (a replayed batch returns 0).
CREATE FUNCTION monitord_record_changes(p_source text, p_changes jsonb)
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
		        new text, output text, observed timestamptz)
		ORDER BY e.i
	LOOP
		IF monitord_record_change(p_source, v_r.seq, v_r.host,
		    v_r."check", v_r.kind, v_r.segment, v_r.old, v_r.new,
		    v_r.output, v_r.observed) IS NOT NULL THEN
			v_n := v_n + 1;
		END IF;
	END LOOP;
	RETURN v_n;
END
$$;
