-- The monthly report at scale: figures worked out once and kept.
--
-- A month's availability is the sum of its days', and an incident's time
-- to acknowledge and to restore no longer change once it is restored,
-- acknowledged and no longer paused.  So incidentd works out each
-- agreement's past days (sla_day) and each finished incident's times
-- (sla_incident) in the background, with the same functions as before
-- (sla_refresh), and the report adds them up, working out live only what
-- is not kept: today, a day changed since, an incident still open.  A
-- kept figure is dropped as soon as what it was made from changes: a state
-- change dated in a kept day or before it, a maintenance window, a pause,
-- the incident itself, or the definitions (agreements, targets,
-- calendars, holidays, dependencies).  The figures are the same whether
-- kept or not (test_sla compares them).

-- An agreement's availability figures for one day [starts_at, ends_at) of
-- a report's time zone (ranges_figures, before the percentage).
CREATE TABLE sla_day (
	agreement  text NOT NULL,
	starts_at  timestamptz NOT NULL,
	ends_at    timestamptz NOT NULL,
	agreed_s   double precision NOT NULL,
	excluded_s double precision NOT NULL,
	nodata_s   double precision NOT NULL,
	down_s     double precision NOT NULL,
	planned_s  double precision NOT NULL,
	PRIMARY KEY (agreement, starts_at, ends_at)
);

CREATE INDEX sla_day_ends ON sla_day (ends_at);

-- Each incident of each agreement (its service is among the incident's
-- affected services), with what selects it for a month; and, once the
-- incident is finished, its figures.  done_at is when they stopped
-- changing (restored, acknowledged, last pause over; 'infinity' while a
-- pause runs); NULL means not worked out, or dropped since.
CREATE TABLE sla_incident (
	agreement       text NOT NULL,
	incident_id     bigint NOT NULL,
	ref             text NOT NULL,
	priority        smallint,
	segment         text NOT NULL,
	cause           text,
	detected_at     timestamptz NOT NULL,
	acknowledged_at timestamptz,
	restored_at     timestamptz, -- fault end, or recovery
	-- the incident's row of its first agreement: counted once by it
	is_first        boolean NOT NULL,
	done_at         timestamptz,
	tto_s           double precision,
	ttr_s           double precision,
	tto_target_s    double precision,
	ttr_target_s    double precision,
	paused_s        double precision,
	PRIMARY KEY (agreement, incident_id)
);

CREATE INDEX sla_incident_incident ON sla_incident (incident_id);

CREATE INDEX sla_incident_todo ON sla_incident (agreement)
	WHERE done_at IS NULL;

CREATE INDEX sla_incident_done ON sla_incident (done_at);

CREATE INDEX sla_incident_first ON sla_incident (detected_at)
	WHERE is_first;

-- An agreement's incidents of a month that is over, [starts_at, ends_at),
-- added up (sla_month_sums), and its breaches (sla_month_breaches): what
-- the report needs of them.  A change to an incident drops the months it
-- was unrestored in.  Times in whole microseconds.
CREATE TABLE sla_incident_month (
	agreement    text NOT NULL,
	starts_at    timestamptz NOT NULL,
	ends_at      timestamptz NOT NULL,
	n            bigint NOT NULL,
	failures     bigint NOT NULL, -- detected in the month
	tto_breaches bigint NOT NULL,
	ttr_breaches bigint NOT NULL,
	tto_us       numeric NOT NULL, -- acknowledged ones
	tto_n        bigint NOT NULL,
	ttr_us       numeric NOT NULL,
	ttr_n        bigint NOT NULL,
	spread       bigint[] NOT NULL, -- see sla_ttr_bin()
	PRIMARY KEY (agreement, starts_at, ends_at)
);

CREATE TABLE sla_month_breach (
	agreement   text NOT NULL,
	starts_at   timestamptz NOT NULL,
	ends_at     timestamptz NOT NULL,
	ref         text NOT NULL,
	priority    smallint,
	detected_at timestamptz NOT NULL,
	metric      text NOT NULL,
	value_s     double precision NOT NULL,
	target_s    double precision NOT NULL,
	open_at_end boolean NOT NULL
);

CREATE INDEX sla_month_breach_month ON sla_month_breach (agreement,
    starts_at, ends_at);

-- A month's incidents (those detected in it, over every agreement) by
-- priority (p), segment (s), cause (c) and day of detection (d), each
-- counted once; kind '*' says the month was counted.
CREATE TABLE sla_count_month (
	starts_at timestamptz NOT NULL,
	ends_at   timestamptz NOT NULL,
	kind      char(1) NOT NULL,
	value     text NOT NULL,
	n         bigint NOT NULL,
	PRIMARY KEY (starts_at, ends_at, kind, value)
);

-- What incidents bring to sla_incident: a row per agreement of each of
-- their affected services, figures to be worked out.
CREATE VIEW sla_incident_source AS
	SELECT a.name AS agreement, i.id AS incident_id, i.ref, i.priority,
	    i.segment, i.cause, i.detected_at, i.acknowledged_at,
	    coalesce(i.fault_end, i.recovered_at) AS restored_at,
	    a.name = min(a.name) OVER (PARTITION BY i.id) AS is_first
	FROM incident i JOIN agreement a ON a.service = ANY (i.affected_services);

-- The incidents already there.
INSERT INTO sla_incident (agreement, incident_id, ref, priority, segment,
    cause, detected_at, acknowledged_at, restored_at, is_first)
SELECT * FROM sla_incident_source;
