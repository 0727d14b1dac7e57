-- Agreements and their figures: the SLA the IT department owes each user
-- department for a service, and the OLA its outsourcer owes it.
--
-- Availability is worked out from the hard states monitord recorded for
-- the service's dependencies, clipped to the agreement's service time (its
-- calendar), month by month:
--   - a dependency check is down while CRITICAL, up while OK or WARNING,
--     and without data while UNKNOWN or before its first state change;
--   - the service is down while any dependency is down; that time is
--     planned when every down dependency is inside a maintenance window
--     (downtime_window) covering it, unplanned otherwise;
--   - planned maintenance is either removed from the agreed time (rule
--     'exclude', as Zabbix does) or counted as available ('available', as
--     Icinga does); unplanned downtime always counts, and maintenance time
--     with unplanned downtime in it is never removed;
--   - time without data is left out of the figure, and a period with no
--     data at all has no availability (NULL), never 100 %.
--   availability = (agreed - excluded - no data - down)
--                  / (agreed - excluded - no data)
--   where agreed is the calendar's service time before the exclusions, as
--   the report shows it (ranges_figures).
--
-- Time to acknowledge (detected -> acknowledged) and time to restore
-- (fault start -> fault end) are counted in the agreement's business time,
-- less the pauses that stop its clock: waiting on the department stops
-- every clock; waiting on the in-house staff stops the outsourcer's (OLA)
-- clock only; waiting on the outsourcer stops none, since the department
-- holds the IT department to account for its outsourcer.

CREATE TABLE agreement (
	name         text PRIMARY KEY,
	kind         text NOT NULL CHECK (kind IN ('sla', 'ola')),
	service      text NOT NULL REFERENCES service ON DELETE CASCADE,
	party        text NOT NULL, -- the department, or the outsourcer
	calendar     text REFERENCES calendar ON DELETE SET NULL, -- NULL: 24x7
	availability numeric(7, 4) CHECK (availability BETWEEN 0 AND 100),
	maintenance  text NOT NULL DEFAULT 'exclude'
	                 CHECK (maintenance IN ('exclude', 'available'))
);

-- Time-to-acknowledge and time-to-restore targets, per priority.
CREATE TABLE agreement_target (
	agreement text NOT NULL REFERENCES agreement ON DELETE CASCADE,
	priority  smallint NOT NULL CHECK (priority BETWEEN 1 AND 5),
	tto       interval,
	ttr       interval,
	PRIMARY KEY (agreement, priority)
);

-- An incident waiting on someone.  Pauses are recorded as they start and
-- end; each also leaves a note in the incident's audit trail.
CREATE TABLE incident_pause (
	id          bigserial PRIMARY KEY,
	incident_id bigint NOT NULL REFERENCES incident (id),
	party       text NOT NULL
	                CHECK (party IN ('department', 'in-house', 'outsourcer')),
	started_at  timestamptz NOT NULL,
	ended_at    timestamptz,
	reason      text NOT NULL,
	CHECK (ended_at IS NULL OR ended_at > started_at)
);

CREATE INDEX incident_pause_incident ON incident_pause (incident_id);

-- at most one running pause per incident
CREATE UNIQUE INDEX incident_pause_running ON incident_pause (incident_id)
	WHERE ended_at IS NULL;

-- A check's history, in order: what availability is worked out from.
CREATE INDEX state_event_check_time ON state_event (host, check_name,
    observed_at);

-- The incidents of a service.
CREATE INDEX incident_affected_services ON incident USING gin
    (affected_services);

CREATE TYPE agreement_ranges_t AS (agreed tstzmultirange,
    excluded tstzmultirange, nodata tstzmultirange, down tstzmultirange,
    planned tstzmultirange);

-- Closed months: the report as an administrator approved it, stored whole
-- and kept; a correction after the close is a new version with its
-- reason, never an edit.
CREATE TABLE sla_report_version (
	month       text NOT NULL,
	version     integer NOT NULL CHECK (version > 0),
	approved_by text NOT NULL,
	approved_at timestamptz NOT NULL DEFAULT now(),
	reason      text NOT NULL DEFAULT '',
	report      jsonb NOT NULL,
	PRIMARY KEY (month, version)
);
