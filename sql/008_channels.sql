-- Channels beyond mail and the spool: SMS through an HTTP gateway (same
-- 'sms' rows, another way out) and webhooks for chat tools, a channel of
-- their own.  What the far end called a message it accepted (a relay's
-- queue id, a gateway's message id) is kept with the row.

ALTER TABLE notification ADD COLUMN provider_ref text;

-- As in 006, with the channels (email, sms, webhook) and the silence of
-- maintenance windows.
CREATE OR REPLACE FUNCTION notification_queue(p_inc incident,
    p_ev state_event, p_kind text, p_recipients jsonb)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
	v_n integer;
	v_until timestamptz;
BEGIN
	IF p_kind = 'opened' AND p_ev.downtime IS NOT NULL THEN
		SELECT max(ends_at) INTO v_until FROM downtime_window
		WHERE source = p_ev.source AND name = p_ev.downtime
		  AND starts_at <= p_ev.observed_at
		  AND ends_at > p_ev.observed_at;
		-- A window nobody published cannot say when to speak
		-- again: better a message now than none.
		IF v_until IS NOT NULL THEN
			UPDATE incident SET silenced_by = p_ev.downtime,
			    silenced_until = v_until
			WHERE id = p_inc.id;
			INSERT INTO incident_transition (incident_id, actor,
			    role, from_status, to_status, from_phase,
			    to_phase, event_id, reason)
			SELECT p_inc.id, 'incidentd', 'system', i.status,
			    i.status, i.phase, i.phase, p_ev.id,
			    'notifications silenced by maintenance ' ||
			    p_ev.downtime || ' until ' || v_until::text
			FROM incident i WHERE i.id = p_inc.id;
			RETURN 0;
		END IF;
	END IF;
	IF p_kind = 'recovered' AND NOT EXISTS (
	    SELECT 1 FROM notification WHERE incident_id = p_inc.id
	      AND ((kind = 'opened' AND round = p_inc.reopen_count) OR
	           (kind = 'escalated' AND round / 100 = p_inc.reopen_count)))
	THEN
		-- nothing was said of its start: say nothing of its end,
		-- and nothing later either
		UPDATE incident SET silenced_by = NULL, silenced_until = NULL
		WHERE id = p_inc.id;
		RETURN 0;
	END IF;
	INSERT INTO notification (incident_id, kind, round, channel,
	    recipient, recipient_name, lang, next_attempt_at, facts)
	SELECT p_inc.id, p_kind, p_inc.reopen_count, c.channel, c.address,
	    coalesce(r->>'name', ''), coalesce(r->>'lang', 'ja'),
	    now() + CASE WHEN p_kind = 'opened' THEN
	        (SELECT group_window FROM lifecycle_setting) ELSE '0' END,
	    incident_facts(p_inc, p_ev) || jsonb_build_object('round',
	        p_inc.reopen_count, 'priority', p_inc.priority, 'children',
	        (SELECT count(*) FROM incident_child
	         WHERE incident_id = p_inc.id), 'after_maintenance',
	        p_inc.silenced_by)
	FROM jsonb_array_elements(coalesce(p_recipients, '[]'::jsonb)) AS r
	-- a webhook's address is its contact's name: the URL, which may
	-- hold a token, stays in the configuration
	CROSS JOIN LATERAL (VALUES (1, 'email', r->>'email'),
	    (2, 'sms', r->>'sms'), (3, 'webhook', r->>'webhook'))
	    AS c(ord, channel, address)
	WHERE coalesce(c.address, '') <> ''
	  -- the end goes to whoever was told of the start (at once or by
	  -- escalation); the start and reminders to those told at once; an
	  -- escalation to the level its caller chose
	  AND CASE p_kind
	      WHEN 'recovered' THEN EXISTS (SELECT 1 FROM notification x
	          WHERE x.incident_id = p_inc.id AND x.channel = c.channel
	            AND x.recipient = c.address
	            AND ((x.kind = 'opened' AND x.round = p_inc.reopen_count)
	              OR (x.kind = 'escalated'
	                  AND x.round / 100 = p_inc.reopen_count)))
	      WHEN 'escalated' THEN true
	      ELSE coalesce((r->>'after_ms')::bigint, 0) = 0 END
	  -- a contact may want SMS only for some priorities
	  AND (p_kind = 'recovered' OR c.channel <> 'sms'
	       OR r->>'sms_priorities' IS NULL
	       OR p_inc.priority = ANY (string_to_array(
	           r->>'sms_priorities', ',')::smallint[]))
	ORDER BY c.ord
	ON CONFLICT (incident_id, kind, round, channel, recipient)
	DO NOTHING;
	GET DIAGNOSTICS v_n = ROW_COUNT;
	RETURN v_n;
END
$$;


-- incidentd, after each attempt: notification_done, and the far end's
-- reference when it accepted the message.
CREATE FUNCTION notification_result(p_id bigint, p_ok boolean, p_error text,
    p_ref text, p_retry_min interval, p_retry_max interval,
    p_max_attempts integer)
RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	IF p_ok AND coalesce(p_ref, '') <> '' THEN
		UPDATE notification SET provider_ref = left(p_ref, 200)
		WHERE id = p_id AND status = 'sending';
	END IF;
	RETURN notification_done(p_id, p_ok, p_error, p_retry_min,
	    p_retry_max, p_max_attempts);
END
$$;
