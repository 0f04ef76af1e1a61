-- A write to a session someone watches (a row in session_watches that has not expired) tells the
-- listening instances, in the writing transaction itself: PostgreSQL delivers a NOTIFY at commit,
-- and never for a rolled-back write. The payload names the row and its new version, never its
-- contents: [environment_id, id, version]. Writes to sessions nobody watches notify nothing, as a
-- notifying commit takes a lock that serialises the commits of the whole server. Only a write
-- that moves the version counts (a create that finds its session again writes nothing new).
CREATE FUNCTION "sessions_notify_changed"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (
    SELECT 1 FROM "session_watches" w
    WHERE w."environment_id" = NEW."environment_id" AND w."session_id" = NEW."id" AND w."expires_at" > now()
  ) THEN
    PERFORM pg_notify('session_changed', json_build_array(NEW."environment_id", NEW."id", NEW."version")::text);
  END IF;
  RETURN NULL;
END
$$;
--> statement-breakpoint
CREATE TRIGGER "sessions_changed" AFTER UPDATE ON "sessions" FOR EACH ROW
  WHEN (OLD."version" IS DISTINCT FROM NEW."version") EXECUTE FUNCTION "sessions_notify_changed"();
