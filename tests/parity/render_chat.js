#!/usr/bin/env node
// Reference renderer for tst_chattemplate_parity: renders chat templates with @huggingface/jinja
// (the Jinja implementation transformers.js uses, configured like transformers: trim_blocks and
// lstrip_blocks on).
//   node render_chat.js CASES_JSON OUT_JSON
// CASES_JSON is a list of {"template_file": path} or {"template": source}, each with
// "context": {...}; OUT_JSON receives, per case, {"ok": true, "text": ...} or
// {"ok": false, "error": message}.
'use strict';
const fs = require('fs');
const path = require('path');

let Template;
try {
    ({ Template } = require(path.join(__dirname, 'node_modules', '@huggingface', 'jinja')));
} catch (e) {
    process.stderr.write('render_chat.js: @huggingface/jinja is not installed: run installer/setup.sh ' +
                         '(it runs "npm ci --prefix tests/parity")\n' + e.message + '\n');
    process.exit(2);
}

const [casesPath, outPath] = process.argv.slice(2);
if (!casesPath || !outPath) {
    process.stderr.write('usage: node render_chat.js CASES_JSON OUT_JSON\n');
    process.exit(2);
}
const cases = JSON.parse(fs.readFileSync(casesPath, 'utf8'));
const compiled = new Map();
const results = cases.map((c) => {
    try {
        const source = c.template !== undefined ? c.template : fs.readFileSync(c.template_file, 'utf8');
        if (!compiled.has(source)) {
            compiled.set(source, new Template(source));
        }
        return { ok: true, text: compiled.get(source).render(c.context) };
    } catch (e) {
        return { ok: false, error: String(e && e.message !== undefined ? e.message : e) };
    }
});
fs.writeFileSync(outPath, JSON.stringify(results));
