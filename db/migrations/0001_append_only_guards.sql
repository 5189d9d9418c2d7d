-- Append-only tables: the database itself rejects UPDATE, DELETE and TRUNCATE statements (even
-- ones that would touch no row), so no code path or operator with the app's role rewrites history.
CREATE OR REPLACE FUNCTION kaizen_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'table % is append-only: % is not allowed', TG_TABLE_NAME, TG_OP
    USING ERRCODE = 'insufficient_privilege', HINT = 'Kaizen keeps history immutable; record a new row instead.';
END
$$;
--> statement-breakpoint
CREATE TRIGGER prompt_versions_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON prompt_versions FOR EACH STATEMENT EXECUTE FUNCTION kaizen_append_only();
--> statement-breakpoint
CREATE TRIGGER grader_versions_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON grader_versions FOR EACH STATEMENT EXECUTE FUNCTION kaizen_append_only();
--> statement-breakpoint
CREATE TRIGGER label_history_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON label_history FOR EACH STATEMENT EXECUTE FUNCTION kaizen_append_only();
--> statement-breakpoint
CREATE TRIGGER approvals_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON approvals FOR EACH STATEMENT EXECUTE FUNCTION kaizen_append_only();
--> statement-breakpoint
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_events FOR EACH STATEMENT EXECUTE FUNCTION kaizen_append_only();
