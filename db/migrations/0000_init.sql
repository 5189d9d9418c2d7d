CREATE TABLE "approvals" (
	"id" text PRIMARY KEY NOT NULL,
	"canary_id" text NOT NULL,
	"decision" text NOT NULL,
	"approver" text NOT NULL,
	"role" text,
	"comment" text,
	"evidence" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "audit_events" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"event_key" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"actor" text NOT NULL,
	"action" text NOT NULL,
	"task_id" text,
	"subject_type" text NOT NULL,
	"subject_id" text NOT NULL,
	"details" jsonb NOT NULL,
	CONSTRAINT "audit_events_event_key_unique" UNIQUE("event_key")
);
--> statement-breakpoint
CREATE TABLE "campaigns" (
	"id" text PRIMARY KEY NOT NULL,
	"task_id" text NOT NULL,
	"trigger" text NOT NULL,
	"status" text NOT NULL,
	"config" jsonb NOT NULL,
	"baseline_version_id" text,
	"winner_version_id" text,
	"dataset_id" text,
	"grader_version_id" text,
	"decision" text,
	"reason" text,
	"result" jsonb,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"finished_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "canaries" (
	"id" text PRIMARY KEY NOT NULL,
	"task_id" text NOT NULL,
	"campaign_id" text,
	"candidate_version_id" text NOT NULL,
	"baseline_version_id" text NOT NULL,
	"grader_version_id" text NOT NULL,
	"state" text NOT NULL,
	"weight" real NOT NULL,
	"config" jsonb NOT NULL,
	"reason" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"ended_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "candidates" (
	"id" text PRIMARY KEY NOT NULL,
	"campaign_id" text NOT NULL,
	"prompt_version_id" text NOT NULL,
	"parent_candidate_ids" jsonb NOT NULL,
	"operator" text NOT NULL,
	"round" integer NOT NULL,
	"feedback" jsonb NOT NULL,
	"status" text NOT NULL,
	"minibatch" jsonb,
	"validation_mean" double precision,
	"holdout_mean" double precision,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "dataset_items" (
	"dataset_id" text NOT NULL,
	"traffic_id" text NOT NULL,
	"split" text NOT NULL,
	"position" integer NOT NULL,
	CONSTRAINT "dataset_items_dataset_id_traffic_id_pk" PRIMARY KEY("dataset_id","traffic_id")
);
--> statement-breakpoint
CREATE TABLE "datasets" (
	"id" text PRIMARY KEY NOT NULL,
	"task_id" text NOT NULL,
	"campaign_id" text,
	"seed" text NOT NULL,
	"spec" jsonb NOT NULL,
	"counts" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "evaluations" (
	"cache_key" text PRIMARY KEY NOT NULL,
	"provider" text NOT NULL,
	"model" text NOT NULL,
	"simulated" boolean NOT NULL,
	"output" text,
	"error" text,
	"feedback" text,
	"input_tokens" integer DEFAULT 0 NOT NULL,
	"output_tokens" integer DEFAULT 0 NOT NULL,
	"latency_ms" integer DEFAULT 0 NOT NULL,
	"cost_usd" double precision DEFAULT 0 NOT NULL,
	"campaign_id" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "grader_versions" (
	"id" text PRIMARY KEY NOT NULL,
	"task_id" text NOT NULL,
	"name" text NOT NULL,
	"spec" jsonb NOT NULL,
	"code_version" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "label_history" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"move_key" text NOT NULL,
	"task_id" text NOT NULL,
	"label" text NOT NULL,
	"from_version_id" text,
	"to_version_id" text,
	"weight" real,
	"reason" text NOT NULL,
	"actor" text NOT NULL,
	"canary_id" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "label_history_move_key_unique" UNIQUE("move_key")
);
--> statement-breakpoint
CREATE TABLE "labels" (
	"task_id" text NOT NULL,
	"label" text NOT NULL,
	"prompt_version_id" text NOT NULL,
	"weight" real NOT NULL,
	"canary_id" text,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "labels_task_id_label_pk" PRIMARY KEY("task_id","label")
);
--> statement-breakpoint
CREATE TABLE "prompt_versions" (
	"id" text PRIMARY KEY NOT NULL,
	"task_id" text NOT NULL,
	"version" integer NOT NULL,
	"content_hash" text NOT NULL,
	"system" text NOT NULL,
	"user_template" text NOT NULL,
	"model" text NOT NULL,
	"params" jsonb NOT NULL,
	"parent_ids" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"origin" text NOT NULL,
	"campaign_id" text,
	"operator" text,
	"created_by" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "scores" (
	"subject_type" text NOT NULL,
	"subject_id" text NOT NULL,
	"grader_version_id" text NOT NULL,
	"score" double precision,
	"pass" boolean NOT NULL,
	"reason" text NOT NULL,
	"dimensions" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "scores_subject_type_subject_id_grader_version_id_pk" PRIMARY KEY("subject_type","subject_id","grader_version_id")
);
--> statement-breakpoint
CREATE TABLE "tasks" (
	"id" text PRIMARY KEY NOT NULL,
	"title" text NOT NULL,
	"description" text NOT NULL,
	"scenario_id" text,
	"input_fields" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "traffic" (
	"id" text PRIMARY KEY NOT NULL,
	"task_id" text NOT NULL,
	"prompt_version_id" text NOT NULL,
	"routing_key" text NOT NULL,
	"canary_id" text,
	"arm" text,
	"input" jsonb NOT NULL,
	"output" text,
	"reference" jsonb,
	"sim_example_key" text,
	"provider" text NOT NULL,
	"model" text NOT NULL,
	"simulated" boolean NOT NULL,
	"input_tokens" integer DEFAULT 0 NOT NULL,
	"output_tokens" integer DEFAULT 0 NOT NULL,
	"latency_ms" integer DEFAULT 0 NOT NULL,
	"cost_usd" double precision DEFAULT 0 NOT NULL,
	"error" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "approvals" ADD CONSTRAINT "approvals_canary_id_canaries_id_fk" FOREIGN KEY ("canary_id") REFERENCES "public"."canaries"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "campaigns" ADD CONSTRAINT "campaigns_task_id_tasks_id_fk" FOREIGN KEY ("task_id") REFERENCES "public"."tasks"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "canaries" ADD CONSTRAINT "canaries_task_id_tasks_id_fk" FOREIGN KEY ("task_id") REFERENCES "public"."tasks"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "canaries" ADD CONSTRAINT "canaries_candidate_version_id_prompt_versions_id_fk" FOREIGN KEY ("candidate_version_id") REFERENCES "public"."prompt_versions"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "canaries" ADD CONSTRAINT "canaries_baseline_version_id_prompt_versions_id_fk" FOREIGN KEY ("baseline_version_id") REFERENCES "public"."prompt_versions"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "canaries" ADD CONSTRAINT "canaries_grader_version_id_grader_versions_id_fk" FOREIGN KEY ("grader_version_id") REFERENCES "public"."grader_versions"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "candidates" ADD CONSTRAINT "candidates_campaign_id_campaigns_id_fk" FOREIGN KEY ("campaign_id") REFERENCES "public"."campaigns"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "candidates" ADD CONSTRAINT "candidates_prompt_version_id_prompt_versions_id_fk" FOREIGN KEY ("prompt_version_id") REFERENCES "public"."prompt_versions"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "dataset_items" ADD CONSTRAINT "dataset_items_dataset_id_datasets_id_fk" FOREIGN KEY ("dataset_id") REFERENCES "public"."datasets"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "dataset_items" ADD CONSTRAINT "dataset_items_traffic_id_traffic_id_fk" FOREIGN KEY ("traffic_id") REFERENCES "public"."traffic"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "datasets" ADD CONSTRAINT "datasets_task_id_tasks_id_fk" FOREIGN KEY ("task_id") REFERENCES "public"."tasks"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "grader_versions" ADD CONSTRAINT "grader_versions_task_id_tasks_id_fk" FOREIGN KEY ("task_id") REFERENCES "public"."tasks"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "labels" ADD CONSTRAINT "labels_task_id_tasks_id_fk" FOREIGN KEY ("task_id") REFERENCES "public"."tasks"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "labels" ADD CONSTRAINT "labels_prompt_version_id_prompt_versions_id_fk" FOREIGN KEY ("prompt_version_id") REFERENCES "public"."prompt_versions"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "prompt_versions" ADD CONSTRAINT "prompt_versions_task_id_tasks_id_fk" FOREIGN KEY ("task_id") REFERENCES "public"."tasks"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "scores" ADD CONSTRAINT "scores_grader_version_id_grader_versions_id_fk" FOREIGN KEY ("grader_version_id") REFERENCES "public"."grader_versions"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "traffic" ADD CONSTRAINT "traffic_task_id_tasks_id_fk" FOREIGN KEY ("task_id") REFERENCES "public"."tasks"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "traffic" ADD CONSTRAINT "traffic_prompt_version_id_prompt_versions_id_fk" FOREIGN KEY ("prompt_version_id") REFERENCES "public"."prompt_versions"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "audit_task" ON "audit_events" USING btree ("task_id","created_at");--> statement-breakpoint
CREATE INDEX "audit_subject" ON "audit_events" USING btree ("subject_type","subject_id");--> statement-breakpoint
CREATE INDEX "campaigns_task" ON "campaigns" USING btree ("task_id","created_at");--> statement-breakpoint
CREATE INDEX "canaries_task" ON "canaries" USING btree ("task_id","created_at");--> statement-breakpoint
CREATE UNIQUE INDEX "candidates_campaign_version" ON "candidates" USING btree ("campaign_id","prompt_version_id");--> statement-breakpoint
CREATE INDEX "candidates_campaign" ON "candidates" USING btree ("campaign_id");--> statement-breakpoint
CREATE INDEX "dataset_items_split" ON "dataset_items" USING btree ("dataset_id","split","position");--> statement-breakpoint
CREATE INDEX "evaluations_campaign" ON "evaluations" USING btree ("campaign_id");--> statement-breakpoint
CREATE INDEX "label_history_task" ON "label_history" USING btree ("task_id","created_at");--> statement-breakpoint
CREATE UNIQUE INDEX "prompt_versions_task_hash" ON "prompt_versions" USING btree ("task_id","content_hash");--> statement-breakpoint
CREATE UNIQUE INDEX "prompt_versions_task_version" ON "prompt_versions" USING btree ("task_id","version");--> statement-breakpoint
CREATE INDEX "traffic_task_time" ON "traffic" USING btree ("task_id","created_at");--> statement-breakpoint
CREATE INDEX "traffic_canary" ON "traffic" USING btree ("canary_id","created_at");--> statement-breakpoint
CREATE INDEX "traffic_version" ON "traffic" USING btree ("prompt_version_id");