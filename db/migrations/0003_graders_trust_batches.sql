CREATE TABLE "grader_trust" (
	"id" text PRIMARY KEY NOT NULL,
	"grader_version_id" text NOT NULL,
	"task_id" text NOT NULL,
	"trusted" boolean NOT NULL,
	"labels_hash" text NOT NULL,
	"labels_count" integer NOT NULL,
	"report" jsonb NOT NULL,
	"created_by" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "grading_batch_items" (
	"batch_id" text NOT NULL,
	"position" integer NOT NULL,
	"traffic_id" text NOT NULL,
	CONSTRAINT "grading_batch_items_batch_id_position_pk" PRIMARY KEY("batch_id","position")
);
--> statement-breakpoint
CREATE TABLE "grading_batches" (
	"id" text PRIMARY KEY NOT NULL,
	"task_id" text NOT NULL,
	"grader_version_id" text NOT NULL,
	"item_count" integer NOT NULL,
	"chunk_size" integer NOT NULL,
	"result" jsonb,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"finished_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "evaluations" ADD COLUMN "purpose" text DEFAULT 'task' NOT NULL;--> statement-breakpoint
ALTER TABLE "evaluations" ADD COLUMN "attempts" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "grader_trust" ADD CONSTRAINT "grader_trust_grader_version_id_grader_versions_id_fk" FOREIGN KEY ("grader_version_id") REFERENCES "public"."grader_versions"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "grader_trust" ADD CONSTRAINT "grader_trust_task_id_tasks_id_fk" FOREIGN KEY ("task_id") REFERENCES "public"."tasks"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "grading_batch_items" ADD CONSTRAINT "grading_batch_items_batch_id_grading_batches_id_fk" FOREIGN KEY ("batch_id") REFERENCES "public"."grading_batches"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "grading_batch_items" ADD CONSTRAINT "grading_batch_items_traffic_id_traffic_id_fk" FOREIGN KEY ("traffic_id") REFERENCES "public"."traffic"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "grading_batches" ADD CONSTRAINT "grading_batches_task_id_tasks_id_fk" FOREIGN KEY ("task_id") REFERENCES "public"."tasks"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "grading_batches" ADD CONSTRAINT "grading_batches_grader_version_id_grader_versions_id_fk" FOREIGN KEY ("grader_version_id") REFERENCES "public"."grader_versions"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "grader_trust_version" ON "grader_trust" USING btree ("grader_version_id","created_at");--> statement-breakpoint
CREATE TRIGGER grader_trust_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON grader_trust FOR EACH STATEMENT EXECUTE FUNCTION kaizen_append_only();
