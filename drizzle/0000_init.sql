CREATE TYPE "public"."environment_type" AS ENUM('DEVELOPMENT', 'STAGING', 'PRODUCTION', 'PREVIEW');--> statement-breakpoint
CREATE TABLE "api_keys" (
	"environment_id" text NOT NULL,
	"key_hash" text PRIMARY KEY NOT NULL,
	"key_prefix" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"revoked_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "environments" (
	"id" text PRIMARY KEY NOT NULL,
	"slug" text NOT NULL,
	"type" "environment_type" NOT NULL,
	"token_secret" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "environments_slug_unique" UNIQUE("slug")
);
--> statement-breakpoint
CREATE TABLE "sessions" (
	"environment_id" text NOT NULL,
	"id" text NOT NULL,
	"external_id" text,
	"type" text NOT NULL,
	"task_identifier" text NOT NULL,
	"trigger_config" jsonb NOT NULL,
	"tags" text[] DEFAULT '{}'::text[] NOT NULL,
	"metadata" jsonb,
	"current_run_id" text,
	"closed_at" timestamp with time zone,
	"closed_reason" text,
	"expires_at" timestamp with time zone,
	"version" integer DEFAULT 1 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "sessions_environment_id_id_pk" PRIMARY KEY("environment_id","id")
);
--> statement-breakpoint
ALTER TABLE "api_keys" ADD CONSTRAINT "api_keys_environment_id_environments_id_fk" FOREIGN KEY ("environment_id") REFERENCES "public"."environments"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "sessions" ADD CONSTRAINT "sessions_environment_id_environments_id_fk" FOREIGN KEY ("environment_id") REFERENCES "public"."environments"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "api_keys_environment_idx" ON "api_keys" USING btree ("environment_id");--> statement-breakpoint
CREATE UNIQUE INDEX "sessions_environment_external_id_idx" ON "sessions" USING btree ("environment_id","external_id");--> statement-breakpoint
CREATE INDEX "sessions_environment_created_idx" ON "sessions" USING btree ("environment_id","created_at" DESC NULLS FIRST,"id" DESC NULLS FIRST);