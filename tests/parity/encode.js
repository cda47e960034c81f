#!/usr/bin/env node
// Reference encoder for tst_tokenizer_parity: runs the native Hugging Face tokenizers library
// (Rust, through @anush008/tokenizers) on every line of a JSONL corpus.
//   node encode.js TOKENIZER_JSON CORPUS_JSONL OUT_JSONL
// Each input line is {"text": ...}; each output line is
//   {"ids": [...with special tokens...], "ids_plain": [...without...],
//    "decoded": "...", "decoded_skip": "...", "decoded_plain": "..."}
// where decoded/decoded_skip are decode(ids, false) and decode(ids, true), and decoded_plain is
// decode(ids_plain, false).
'use strict';
const fs = require('fs');
const path = require('path');

let Tokenizer;
try {
    ({ Tokenizer } = require(path.join(__dirname, 'node_modules', '@anush008', 'tokenizers')));
} catch (e) {
    process.stderr.write('encode.js: the reference tokenizers are not installed: run installer/setup.sh ' +
                         '(it runs "npm ci --prefix tests/parity")\n' + e.message + '\n');
    process.exit(2);
}

async function main() {
    const [tokenizerPath, corpusPath, outPath] = process.argv.slice(2);
    if (!tokenizerPath || !corpusPath || !outPath) {
        process.stderr.write('usage: node encode.js TOKENIZER_JSON CORPUS_JSONL OUT_JSONL\n');
        process.exit(2);
    }
    const tokenizer = Tokenizer.fromFile(tokenizerPath);
    const lines = fs.readFileSync(corpusPath, 'utf8').split('\n').filter((l) => l.length > 0);
    const out = [];
    for (const line of lines) {
        const { text } = JSON.parse(line);
        const withSpecial = await tokenizer.encode(text, null, { addSpecialTokens: true });
        const plain = await tokenizer.encode(text, null, { addSpecialTokens: false });
        const ids = withSpecial.getIds();
        out.push(JSON.stringify({
            ids,
            ids_plain: plain.getIds(),
            decoded: await tokenizer.decode(ids, false),
            decoded_skip: await tokenizer.decode(ids, true),
            decoded_plain: await tokenizer.decode(plain.getIds(), false),
        }));
    }
    fs.writeFileSync(outPath, out.join('\n') + (out.length ? '\n' : ''));
}

main().catch((e) => {
    process.stderr.write('encode.js: ' + (e && e.stack ? e.stack : e) + '\n');
    process.exit(1);
});
