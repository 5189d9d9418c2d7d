ALTER TABLE "tasks" ADD COLUMN "retention_days" integer;--> statement-breakpoint
ALTER TABLE "traffic" ADD COLUMN "expired_at" timestamp with time zone;--> statement-breakpoint
CREATE INDEX "dataset_items_traffic" ON "dataset_items" USING btree ("traffic_id");--> statement-breakpoint
CREATE INDEX "grading_batch_items_traffic" ON "grading_batch_items" USING btree ("traffic_id");