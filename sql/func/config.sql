-- The configuration incidentd stores when it connects (incidentd.yaml as
-- JSON, see incidentd/conf.c): each part replaces what the last
-- configuration said of it, and the SLA figures kept so far go when what
-- they were made from changed.

CREATE OR REPLACE FUNCTION lifecycle_configure(p_conf jsonb)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	v_before text := sla_definitions();
BEGIN
	PERFORM lifecycle_configure_notify(p_conf);
	PERFORM lifecycle_configure_services(p_conf);
	PERFORM lifecycle_configure_calendars(p_conf);
	PERFORM lifecycle_configure_agreements(p_conf);
	PERFORM metric_configure(p_conf->'retention');
	IF sla_definitions() IS DISTINCT FROM v_before THEN
		PERFORM sla_cache_reset();
	END IF;
END
$$;
