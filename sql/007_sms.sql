-- 007: SMS.  A contact may have a mobile number besides (or instead of) a
-- mail address; every notification then goes to each of them, one outbox
-- row per channel, sent, retried and marked like mail.  The facts gain the
-- incident's priority, which the SMS text carries.

CREATE OR REPLACE FUNCTION notification_queue(p_inc incident,
    p_ev state_event, p_kind text, p_recipients jsonb)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
	v_n integer;
BEGIN
	INSERT INTO notification (incident_id, kind, round, channel,
	    recipient, recipient_name, lang, facts)
	SELECT p_inc.id, p_kind, p_inc.reopen_count, c.channel, c.address,
	    coalesce(r->>'name', ''), coalesce(r->>'lang', 'ja'),
	    incident_facts(p_inc, p_ev) || jsonb_build_object('round',
	        p_inc.reopen_count, 'priority', p_inc.priority, 'children',
	        (SELECT count(*) FROM incident_child
	         WHERE incident_id = p_inc.id))
	FROM jsonb_array_elements(coalesce(p_recipients, '[]'::jsonb)) AS r
	CROSS JOIN LATERAL (VALUES (1, 'email', r->>'email'),
	    (2, 'sms', r->>'sms')) AS c(ord, channel, address)
	WHERE coalesce(c.address, '') <> ''
	ORDER BY c.ord
	ON CONFLICT (incident_id, kind, round, channel, recipient)
	DO NOTHING;
	GET DIAGNOSTICS v_n = ROW_COUNT;
	RETURN v_n;
END
$$;
