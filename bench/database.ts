import postgres from 'postgres';

/** The real server the benchmarks run against (DATABASE_URL): each makes a database of its own there. */
export const adminUrl = (() => {
  const url = process.env.DATABASE_URL;
  if (!url) throw new Error('DATABASE_URL must point at a real PostgreSQL server');
  return url;
})();

/** An empty database `name` on that server (dropped first if it exists); its URL. */
export async function freshDatabase(name: string): Promise<string> {
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`drop database if exists ${name} with (force)`);
  await admin.unsafe(`create database ${name}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}
