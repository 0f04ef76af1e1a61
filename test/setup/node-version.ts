/**
 * CI runs the suite a second time on the current LTS line of Node.js (.ci/run). That pass sets
 * REQUIRE_NODE_MAJOR, and every test file refuses to run on another version: a PATH that still
 * finds the system's Node.js fails the pass rather than passing it on the wrong runtime.
 */
const required = process.env['REQUIRE_NODE_MAJOR'];
const running = process.versions.node.split('.')[0];
if (required && running !== required) {
  throw new Error(`REQUIRE_NODE_MAJOR=${required}, but the suite runs on Node.js ${process.versions.node}`);
}
