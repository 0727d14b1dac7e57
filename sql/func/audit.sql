-- The audit trail is append-only: every table of the record that must never
-- change (the moves and field changes of incidents, notes, problem
-- changes, closed SLA reports, user changes and logins, API changes)
-- refuses UPDATE, DELETE and TRUNCATE through one trigger function.

CREATE OR REPLACE FUNCTION forbid_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END
$$;

CREATE OR REPLACE TRIGGER incident_transition_append_only
	BEFORE UPDATE OR DELETE ON incident_transition
	FOR EACH ROW EXECUTE FUNCTION forbid_change();

CREATE OR REPLACE TRIGGER incident_field_change_append_only
	BEFORE UPDATE OR DELETE ON incident_field_change
	FOR EACH ROW EXECUTE FUNCTION forbid_change();

CREATE OR REPLACE TRIGGER incident_note_append_only
	BEFORE UPDATE OR DELETE ON incident_note
	FOR EACH ROW EXECUTE FUNCTION forbid_change();

CREATE OR REPLACE TRIGGER problem_change_append_only
	BEFORE UPDATE OR DELETE ON problem_change
	FOR EACH ROW EXECUTE FUNCTION forbid_change();

-- TRUNCATE skips row triggers: refuse it too.
CREATE OR REPLACE TRIGGER incident_transition_no_truncate
	BEFORE TRUNCATE ON incident_transition
	FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();

CREATE OR REPLACE TRIGGER incident_field_change_no_truncate
	BEFORE TRUNCATE ON incident_field_change
	FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();

CREATE OR REPLACE TRIGGER incident_note_no_truncate
	BEFORE TRUNCATE ON incident_note
	FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();

CREATE OR REPLACE TRIGGER problem_change_no_truncate
	BEFORE TRUNCATE ON problem_change
	FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();

CREATE OR REPLACE TRIGGER sla_report_version_append_only
	BEFORE UPDATE OR DELETE ON sla_report_version
	FOR EACH ROW EXECUTE FUNCTION forbid_change();

CREATE OR REPLACE TRIGGER sla_report_version_no_truncate
	BEFORE TRUNCATE ON sla_report_version
	FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();

CREATE OR REPLACE TRIGGER user_change_append_only
	BEFORE UPDATE OR DELETE ON user_change
	FOR EACH ROW EXECUTE FUNCTION forbid_change();

CREATE OR REPLACE TRIGGER user_change_no_truncate
	BEFORE TRUNCATE ON user_change
	FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();

CREATE OR REPLACE TRIGGER user_login_append_only
	BEFORE UPDATE OR DELETE ON user_login
	FOR EACH ROW EXECUTE FUNCTION forbid_change();

CREATE OR REPLACE TRIGGER user_login_no_truncate
	BEFORE TRUNCATE ON user_login
	FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();

CREATE OR REPLACE TRIGGER api_change_append_only
	BEFORE UPDATE OR DELETE ON api_change
	FOR EACH ROW EXECUTE FUNCTION forbid_change();

CREATE OR REPLACE TRIGGER api_change_no_truncate
	BEFORE TRUNCATE ON api_change
	FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();
