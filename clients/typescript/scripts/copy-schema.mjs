// tsc does not emit .d.ts inputs: copy the generated schema next to the compiled modules that import it.
import { copyFileSync, mkdirSync } from "node:fs";

mkdirSync(new URL("../dist/src/", import.meta.url), { recursive: true });
copyFileSync(new URL("../src/schema.d.ts", import.meta.url), new URL("../dist/src/schema.d.ts", import.meta.url));
