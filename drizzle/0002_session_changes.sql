-- Every write to a session row tells the listening instances, in the writing transaction itself
-- (PostgreSQL delivers a NOTIFY at commit, and never for a rolled-back write). The payload names
-- the row and its new version, never its contents: [environment_id, id, version]. Only a write
-- that moves the version notifies (a create that finds its session again writes nothing new).
CREATE FUNCTION "sessions_notify_changed"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('session_changed', json_build_array(NEW."environment_id", NEW."id", NEW."version")::text);
  RETURN NULL;
END
$$;
--> statement-breakpoint
CREATE TRIGGER "sessions_changed" AFTER UPDATE ON "sessions" FOR EACH ROW
  WHEN (OLD."version" IS DISTINCT FROM NEW."version") EXECUTE FUNCTION "sessions_notify_changed"();
