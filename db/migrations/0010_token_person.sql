ALTER TABLE "api_tokens" ADD COLUMN "person" text;--> statement-breakpoint
ALTER TABLE "api_tokens" ADD COLUMN "role" text;