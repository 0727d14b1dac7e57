-- 016: each breach, and each acknowledgement, counts in one month only.
--
-- An incident unrestored at a month's end is listed in that month with its
-- times up to the month's end, and again in every later month it is
-- unrestored in, with its times from its start.  Its breach of a target
-- belongs to the month in which the target ran out: the instant its clock
-- (business time less the pauses that stop it) passed the target, or its
-- detection if the target had run out before anyone knew of the fault.
-- So a month's breaches never change once the month is over, whatever day
-- the report is read on, and no breach is counted in two months.  Its time
-- to acknowledge counts in the mean (MTTA) of the month it was
-- acknowledged in.  The rule is in func/sla.sql (sla_month_incidents,
-- agreement_clock_overrun).

-- The figures of an incident gained the instants its targets ran out, and
-- sla_refresh an end day: both are made anew by func/sla.sql.
DROP FUNCTION IF EXISTS sla_incident_figures(text, text, tstzmultirange,
    bigint, timestamptz);
DROP FUNCTION IF EXISTS sla_refresh(text, integer, date);

-- The months kept under the old rule are added up again.
DELETE FROM sla_incident_month;
DELETE FROM sla_month_breach;
