-- Append-only tables: the database itself rejects UPDATE, DELETE and TRUNCATE, so no code path
-- (or operator with SQL access through the app's role) can rewrite history.
CREATE OR REPLACE FUNCTION kaizen_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'table % is append-only: % is not allowed', TG_TABLE_NAME, TG_OP
    USING ERRCODE = 'insufficient_privilege', HINT = 'Kaizen keeps history immutable; record a new row instead.';
END
$$;
--> statement-breakpoint
CREATE TRIGGER prompt_versions_append_only BEFORE UPDATE OR DELETE ON prompt_versions FOR EACH ROW EXECUTE FUNCTION kaizen_append_only();
--> statement-breakpoint
CREATE TRIGGER prompt_versions_no_truncate BEFORE TRUNCATE ON prompt_versions FOR EACH STATEMENT EXECUTE FUNCTION kaizen_append_only();
--> statement-breakpoint
CREATE TRIGGER grader_versions_append_only BEFORE UPDATE OR DELETE ON grader_versions FOR EACH ROW EXECUTE FUNCTION kaizen_append_only();
--> statement-breakpoint
CREATE TRIGGER grader_versions_no_truncate BEFORE TRUNCATE ON grader_versions FOR EACH STATEMENT EXECUTE FUNCTION kaizen_append_only();
--> statement-breakpoint
CREATE TRIGGER label_history_append_only BEFORE UPDATE OR DELETE ON label_history FOR EACH ROW EXECUTE FUNCTION kaizen_append_only();
--> statement-breakpoint
CREATE TRIGGER label_history_no_truncate BEFORE TRUNCATE ON label_history FOR EACH STATEMENT EXECUTE FUNCTION kaizen_append_only();
--> statement-breakpoint
CREATE TRIGGER approvals_append_only BEFORE UPDATE OR DELETE ON approvals FOR EACH ROW EXECUTE FUNCTION kaizen_append_only();
--> statement-breakpoint
CREATE TRIGGER approvals_no_truncate BEFORE TRUNCATE ON approvals FOR EACH STATEMENT EXECUTE FUNCTION kaizen_append_only();
--> statement-breakpoint
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events FOR EACH ROW EXECUTE FUNCTION kaizen_append_only();
--> statement-breakpoint
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events FOR EACH STATEMENT EXECUTE FUNCTION kaizen_append_only();
