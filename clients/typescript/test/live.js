// What the tests share: the Jeton server they run against (started by Jeton's pytest, see
// tests/clients/test_typescript.py: `jeton serve --demo` on loopback) and fresh member ids.
import { randomUUID } from "node:crypto";

import { Client } from "../src/index.js";

export const BASE_URL = process.env.JETON_TEST_URL;
export const API_KEY = process.env.JETON_TEST_KEY;
if (!BASE_URL || !API_KEY) {
  throw new Error("JETON_TEST_URL and JETON_TEST_KEY name the Jeton server and an admin key of "
    + "its demo community (tests/clients/test_typescript.py sets them)");
}

export const client = (options = {}) => new Client(BASE_URL, API_KEY, options);
/** A member id no other test (or earlier run) has used. */
export const fresh = (prefix) => `${prefix}-${randomUUID().slice(0, 8)}`;
