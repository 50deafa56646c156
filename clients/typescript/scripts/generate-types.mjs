#!/usr/bin/env node
// Writes types/schemas.d.ts from Jeton's OpenAPI document: one type per schema of the document,
// and `Operations`, what each route takes and answers. Run it whenever the API changes:
//
//   node scripts/generate-types.mjs http://127.0.0.1:8000/openapi.json   # a running server
//   node scripts/generate-types.mjs openapi.json                         # a saved document
//   node scripts/generate-types.mjs --check openapi.json                 # exit 1 if stale
//
// Jeton's tests run it with --check against the document the server makes, so the committed
// types cannot fall behind the API.
import { readFile, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";

const OUT = fileURLToPath(new URL("../types/schemas.d.ts", import.meta.url));
const REF = "#/components/schemas/";
const METHODS = ["get", "post", "put", "delete", "patch"];

async function load(source) {
  if (/^https?:\/\//.test(source)) {
    const response = await fetch(source);
    if (!response.ok) throw new Error(`${source}: HTTP ${response.status}`);
    return response.json();
  }
  return JSON.parse(await readFile(source, "utf8"));
}

const name = (ref) => ref.slice(REF.length);
const literal = (value) => JSON.stringify(value);
const key = (k) => (/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(k) ? k : literal(k));

function comment(text, indent) {
  if (!text) return "";
  const lines = String(text).trim().replaceAll("*/", "*\\/").split("\n");
  if (lines.length === 1) return `${indent}/** ${lines[0]} */\n`;
  return `${indent}/**\n${lines.map((l) => `${indent} * ${l}`.trimEnd()).join("\n")}\n${indent} */\n`;
}

function union(parts) {
  const unique = [...new Set(parts)];
  return unique.length === 1 ? unique[0] : unique.map((p) => (p.includes(" ") && !p.startsWith("{") ? `(${p})` : p)).join(" | ");
}

// A JSON Schema as a TypeScript type. `alwaysSent`: every property is present (true for the
// schemas of successful answers that no request uses: the server sends every field of its
// answer models, `null` included; request schemas and error bodies keep the document's
// `required`).
function typeOf(schema, indent, alwaysSent) {
  if (!schema || Object.keys(schema).length === 0) return "unknown";
  if (schema.$ref) return name(schema.$ref);
  if ("const" in schema) return literal(schema.const);
  if (schema.enum) return union(schema.enum.map(literal));
  for (const combinator of ["anyOf", "oneOf"]) {
    if (schema[combinator]) return union(schema[combinator].map((s) => typeOf(s, indent, alwaysSent)));
  }
  if (schema.allOf) return schema.allOf.map((s) => typeOf(s, indent, alwaysSent)).join(" & ");
  if (Array.isArray(schema.type)) {
    return union(schema.type.map((t) => typeOf({ ...schema, type: t }, indent, alwaysSent)));
  }
  switch (schema.type) {
    case "string": return "string";
    case "integer": case "number": return "number";
    case "boolean": return "boolean";
    case "null": return "null";
    case "array": {
      const item = typeOf(schema.items, indent, alwaysSent);
      return /[ |&]/.test(item) && !item.startsWith("{") ? `(${item})[]` : `${item}[]`;
    }
    case "object": case undefined: {
      if (schema.properties) return objectType(schema, indent, alwaysSent);
      if (schema.type === undefined) return "unknown";
      const values = schema.patternProperties ? Object.values(schema.patternProperties)
        : schema.additionalProperties && typeof schema.additionalProperties === "object"
          ? [schema.additionalProperties] : [];
      const value = values.length ? union(values.map((s) => typeOf(s, indent, alwaysSent))) : "unknown";
      return `{ [key: string]: ${value} }`;
    }
    default: return "unknown";
  }
}

function objectType(schema, indent, alwaysSent) {
  const inner = `${indent}  `;
  const required = new Set(schema.required ?? []);
  let body = "";
  for (const [prop, sub] of Object.entries(schema.properties)) {
    const present = alwaysSent || required.has(prop);
    body += comment(sub.description, inner);
    body += `${inner}${key(prop)}${present ? "" : "?"}: ${typeOf(sub, inner, alwaysSent)};\n`;
  }
  if (schema.additionalProperties === true) body += `${inner}[key: string]: unknown;\n`;
  return `{\n${body}${indent}}`;
}

// The schemas some roots reach (request bodies, successful answers) through their `$ref`s.
function reachable(doc, roots) {
  const seen = new Set();
  const walk = (node) => {
    if (Array.isArray(node)) return node.forEach(walk);
    if (!node || typeof node !== "object") return;
    if (typeof node.$ref === "string" && node.$ref.startsWith(REF)) {
      const n = name(node.$ref);
      if (seen.has(n)) return;
      seen.add(n);
      walk(doc.components.schemas[n]);
    }
    Object.values(node).forEach(walk);
  };
  roots.forEach(walk);
  return seen;
}

function operationsOf(doc) {
  const lines = [];
  const bodies = [];
  const answered = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const method of METHODS) {
      const op = item[method];
      if (!op) continue;
      const body = op.requestBody?.content?.["application/json"]?.schema;
      if (body) bodies.push(body);
      const ok = Object.entries(op.responses).filter(([code]) => code.startsWith("2"));
      const answerSchemas = ok.map(([, r]) => r.content?.["application/json"]?.schema)
        .filter(Boolean);
      answered.push(...answerSchemas);
      const answers = answerSchemas.map((s) => typeOf(s, "    ", true));
      const text = Object.keys(ok[0]?.[1]?.content ?? {}).find((t) => t.startsWith("text/"));
      const query = (op.parameters ?? []).filter((p) => p.in === "query");
      const queryType = query.length === 0 ? "{}" : `{ ${query.map((p) =>
        `${key(p.name)}${p.required ? "" : "?"}: ${typeOf(p.schema, "    ", false)}`).join("; ")} }`;
      lines.push(comment(op.summary, "  ")
        + `  ${literal(`${method.toUpperCase()} ${path}`)}: {\n`
        + `    body: ${body ? typeOf(body, "    ", false) : "never"};\n`
        + `    query: ${queryType};\n`
        + `    answer: ${answers.length ? union(answers) : text ? "string" : "unknown"};\n  };\n`);
    }
  }
  return { text: `export interface Operations {\n${lines.join("")}}\n`, bodies, answered };
}

export function generate(doc) {
  const { text: operations, bodies, answered } = operationsOf(doc);
  const written = reachable(doc, bodies);
  const answers = reachable(doc, answered);
  let out = "// Generated by scripts/generate-types.mjs from Jeton's OpenAPI document"
    + ` (${doc.info.title} ${doc.info.version}).\n// Do not edit: run the script again.\n\n`;
  const schemas = doc.components.schemas;
  for (const schemaName of Object.keys(schemas).sort()) {
    const schema = schemas[schemaName];
    out += comment(schema.description, "");
    const alwaysSent = answers.has(schemaName) && !written.has(schemaName);
    if (schema.properties) out += `export interface ${schemaName} ${objectType(schema, "", alwaysSent)}\n\n`;
    else out += `export type ${schemaName} = ${typeOf(schema, "", alwaysSent)};\n\n`;
  }
  return out + operations;
}

async function main(argv) {
  const check = argv.includes("--check");
  const sources = argv.filter((a) => a !== "--check");
  if (sources.length !== 1) {
    console.error("usage: generate-types.mjs [--check] <openapi.json | URL>");
    return 2;
  }
  const text = generate(await load(sources[0]));
  if (check) {
    const current = await readFile(OUT, "utf8").catch(() => "");
    if (current !== text) {
      console.error("types/schemas.d.ts is not what the OpenAPI document gives: run "
        + "`node scripts/generate-types.mjs <openapi.json>` and commit the result");
      return 1;
    }
    return 0;
  }
  await writeFile(OUT, text);
  return 0;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.exitCode = await main(process.argv.slice(2));
}
