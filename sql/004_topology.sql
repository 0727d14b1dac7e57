-- 004: topology, first isolation and flapping.  monitord records with each
-- change the state of the host (for its host check), the root-cause host a
-- problem is covered by (first isolation: the host is behind a router that
-- is down, or the check's host is down), and whether the check started or
-- stopped flapping.  A covered problem opens no incident of its own; a
-- flapping check opens one incident, not one per change.

ALTER TABLE state_event
	ADD COLUMN host_state text
	    CHECK (host_state IN ('PENDING', 'UP', 'DOWN', 'UNREACHABLE')),
	ADD COLUMN root_cause text,
	-- true: flapping started; false: it stopped; NULL: neither
	ADD COLUMN flapping boolean;

CREATE INDEX state_event_root_cause ON state_event (root_cause, observed_at)
	WHERE root_cause IS NOT NULL;

ALTER TABLE current_state
	ADD COLUMN host_state text,
	ADD COLUMN root_cause text,
	ADD COLUMN flapping boolean NOT NULL DEFAULT false;
