import type { Server } from 'node:http';
import { serverAudits } from 'graphql-http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listen } from '../src/app.js';
import { drivers, startTestApp, type TestApp } from './support.js';

describe.each(drivers)('the GraphQL over HTTP audit on %s', (driver) => {
  let t: TestApp;
  let server: Server;
  let url: string;
  beforeAll(async () => {
    t = await startTestApp(driver);
    ({ server, url } = await listen(t.app, 0, '127.0.0.1'));
  });
  afterAll(async () => {
    await new Promise((resolve) => server?.close(resolve));
    await t?.close();
  });

  // Every audit, MUST, SHOULD and MAY alike, against the real port.
  it('passes every audit of graphql-http', async () => {
    const failed: string[] = [];
    for (const audit of serverAudits({ url: `${url}/graphql` })) {
      const result = await audit.fn();
      if (result.status !== 'ok') failed.push(`${result.status}: ${audit.name}: ${result.reason}`);
    }
    expect(failed).toEqual([]);
  });
});
