CREATE TABLE "session_watches" (
	"environment_id" text NOT NULL,
	"session_id" text NOT NULL,
	"instance_id" text NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	CONSTRAINT "session_watches_environment_id_session_id_instance_id_pk" PRIMARY KEY("environment_id","session_id","instance_id")
);
--> statement-breakpoint
CREATE INDEX "session_watches_instance_idx" ON "session_watches" USING btree ("instance_id");