-- 018: every function now lives once in a module of func/, which
-- incidentctl migrate applies after the migrations whenever its text
-- changed.  The parts that used to be stacked on one another under
-- numbered names are named for what they do (lifecycle_configure_notify
-- and the others, notification_record_outcome), two wrappers became one
-- function each (notification_queue, sla_report), and what is left of the
-- old ones goes.
DROP FUNCTION IF EXISTS lifecycle_configure_006(jsonb);
DROP FUNCTION IF EXISTS lifecycle_configure_007(jsonb);
DROP FUNCTION IF EXISTS lifecycle_configure_008(jsonb);
DROP FUNCTION IF EXISTS lifecycle_configure_010(jsonb);
DROP FUNCTION IF EXISTS notification_done_001(bigint, boolean, text,
    interval, interval, integer);
DROP FUNCTION IF EXISTS notification_queue_008(incident, state_event, text,
    jsonb);
DROP FUNCTION IF EXISTS sla_report(text, text, text, text, text);
