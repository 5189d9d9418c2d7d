CREATE TABLE "monitor_alerts" (
	"id" text PRIMARY KEY NOT NULL,
	"task_id" text NOT NULL,
	"key" text NOT NULL,
	"kind" text NOT NULL,
	"metric" text NOT NULL,
	"summary" text NOT NULL,
	"evidence" jsonb NOT NULL,
	"raised_at" timestamp with time zone NOT NULL,
	"last_seen_at" timestamp with time zone NOT NULL,
	"acknowledged_at" timestamp with time zone,
	"acknowledged_by" text,
	"campaign_id" text
);
--> statement-breakpoint
CREATE TABLE "monitor_judge_charges" (
	"task_id" text NOT NULL,
	"check_id" text NOT NULL,
	"day" text NOT NULL,
	"usd" double precision NOT NULL,
	"graded" integer NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "monitor_judge_charges_task_id_check_id_pk" PRIMARY KEY("task_id","check_id")
);
--> statement-breakpoint
ALTER TABLE "campaigns" ADD COLUMN "trigger_ref" text;--> statement-breakpoint
ALTER TABLE "monitor_alerts" ADD CONSTRAINT "monitor_alerts_task_id_tasks_id_fk" FOREIGN KEY ("task_id") REFERENCES "public"."tasks"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "monitor_judge_charges" ADD CONSTRAINT "monitor_judge_charges_task_id_tasks_id_fk" FOREIGN KEY ("task_id") REFERENCES "public"."tasks"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "monitor_alerts_key" ON "monitor_alerts" USING btree ("key","raised_at");--> statement-breakpoint
CREATE INDEX "monitor_alerts_task" ON "monitor_alerts" USING btree ("task_id","raised_at");--> statement-breakpoint
CREATE INDEX "monitor_judge_day" ON "monitor_judge_charges" USING btree ("task_id","day");