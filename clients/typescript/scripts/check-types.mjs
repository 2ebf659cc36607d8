// Drift check: regenerate the types from ../../openapi.json into a temp file (with the same command as
// `npm run generate`) and fail when they differ from the committed src/schema.d.ts.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const committed = join(root, "src", "schema.d.ts");
const dir = mkdtempSync(join(tmpdir(), "synthscope-schema-"));
const fresh = join(dir, "schema.d.ts");
try {
  const cli = join(root, "node_modules", "openapi-typescript", "bin", "cli.js");
  execFileSync(process.execPath, [cli, join(root, "..", "..", "openapi.json"), "-o", fresh], {
    cwd: root,
    stdio: ["ignore", "ignore", "inherit"],
  });
  const want = readFileSync(fresh, "utf8");
  const have = readFileSync(committed, "utf8");
  if (want !== have) {
    const a = have.split("\n");
    const b = want.split("\n");
    let line = 0;
    while (line < Math.min(a.length, b.length) && a[line] === b[line]) line++;
    console.error(`src/schema.d.ts is out of date with ../../openapi.json (first difference at line ${line + 1}):`);
    console.error(`  committed:   ${a[line] ?? "<end of file>"}`);
    console.error(`  regenerated: ${b[line] ?? "<end of file>"}`);
    console.error("Run `npm run generate` in clients/typescript and commit src/schema.d.ts.");
    process.exit(1);
  }
  console.log("src/schema.d.ts matches ../../openapi.json");
} finally {
  rmSync(dir, { recursive: true, force: true });
}
