CREATE TABLE "search_rounds" (
	"campaign_id" text NOT NULL,
	"round" integer NOT NULL,
	"started_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "search_rounds_campaign_id_round_pk" PRIMARY KEY("campaign_id","round")
);
