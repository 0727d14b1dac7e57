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
