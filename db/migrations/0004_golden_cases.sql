CREATE TABLE "golden_cases" (
	"task_id" text NOT NULL,
	"traffic_id" text NOT NULL,
	"added_by" text NOT NULL,
	"note" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "golden_cases_task_id_traffic_id_pk" PRIMARY KEY("task_id","traffic_id")
);
--> statement-breakpoint
ALTER TABLE "golden_cases" ADD CONSTRAINT "golden_cases_task_id_tasks_id_fk" FOREIGN KEY ("task_id") REFERENCES "public"."tasks"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "golden_cases" ADD CONSTRAINT "golden_cases_traffic_id_traffic_id_fk" FOREIGN KEY ("traffic_id") REFERENCES "public"."traffic"("id") ON DELETE no action ON UPDATE no action;