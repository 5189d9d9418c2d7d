CREATE TABLE "feedback" (
	"id" text PRIMARY KEY NOT NULL,
	"traffic_id" text NOT NULL,
	"kind" text NOT NULL,
	"value" jsonb NOT NULL,
	"actor" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "feedback" ADD CONSTRAINT "feedback_traffic_id_traffic_id_fk" FOREIGN KEY ("traffic_id") REFERENCES "public"."traffic"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "feedback_traffic" ON "feedback" USING btree ("traffic_id");--> statement-breakpoint
CREATE TRIGGER feedback_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON feedback FOR EACH STATEMENT EXECUTE FUNCTION kaizen_append_only();
