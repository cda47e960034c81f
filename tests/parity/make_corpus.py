#!/usr/bin/env python3
"""Writes corpus.jsonl for tst_tokenizer_parity: lines chosen to exercise every tokenizer stage
(regex pre-tokenizers, normalizers, byte fallback, added tokens, whitespace handling).
Deterministic: rerunning it rewrites the same file. Run: python3 make_corpus.py > corpus.jsonl"""
import json
import unicodedata

lines = []
def add(s):
    lines.append(s)

# English prose.
prose = [
    "The quick brown fox jumps over the lazy dog.",
    "It was the best of times, it was the worst of times.",
    "Fine-tuning a small language model on a laptop is slower than you'd think, but it works.",
    "She said, \"Don't touch that!\" and left the room.",
    "In 1969, Apollo 11 landed on the Moon; 600 million people watched.",
    "Tokenizers split text into pieces; models only ever see the ids.",
    "Why? Because the learning rate was 3e-4 and the batch size was 32.",
    "Mr. O'Neill's dog isn't here — he's at the vet's (again).",
    "A list: apples, oranges, pears; and, finally, a single banana...",
    "Colour, color; favourite, favorite; théâtre, theater.",
    "The loss went from 2.3041 to 0.8127 after 1,500 steps.",
    "E-mail me at someone@example.com or call +1 (555) 010-9999.",
    "THIS SENTENCE IS WRITTEN IN CAPITAL LETTERS FOR EMPHASIS.",
    "this one has no capitals and no punctuation at all",
    "Supercalifragilisticexpialidocious antidisestablishmentarianism pneumonoultramicroscopicsilicovolcanoconiosis",
    "Hello, world!",
    "hello world",
    "Hello",
    "a",
    "I",
    "?",
    "...",
    "Q: What is 2+2? A: 4.",
    "Once upon a time, there was a tokenizer that could not count spaces.",
    "They're here, we've gone, I'm tired, you'll see, he'd know, it's fine.",
    "THEY'RE HERE, WE'VE GONE, I'M TIRED, YOU'LL SEE, HE'D KNOW, IT'S FINE.",
    "They'Re mixed, We'Ve mixed, I'M mixed, You'Ll mixed, He'D mixed, It'S mixed, can'T.",
    "rock 'n' roll, 'quoted', ''double'' and '''triple'''",
    "The cat's toy; the cats' toys; the children's books.",
    "Don't, won't, shan't, can't, wouldn't've.",
]
for p in prose:
    add(p)

# Code.
code = [
    "def train(model, data):\n    for step, batch in enumerate(data):\n        loss = model(batch)\n        loss.backward()\n",
    "int main(int argc, char** argv) {\n\treturn argc > 1 ? 0 : 1;\n}\n",
    "for (size_t i = 0; i < n; ++i) { sum += a[i] * b[i]; }",
    "const x = await fetch(`https://api.example.com/v1/items?id=${id}&limit=10`);",
    "SELECT name, COUNT(*) FROM users WHERE age >= 18 GROUP BY name ORDER BY 2 DESC;",
    "#include <vector>\n#include \"tokenizer/Tokenizer.h\"\n",
    "if x != None and y == 0x1F:\n\tprint(f\"{x!r:>10}\")",
    "<html><body><p class=\"note\">Hi &amp; bye</p></body></html>",
    "{\"key\": [1, 2.5, true, null], \"nested\": {\"a\": \"b\"}}",
    "    indented with four spaces\n        and eight\n\t\tand two tabs",
    "x = y ** 2 // 3 % 4 << 1 >> 2 & 0xff | ~z ^ w",
    "git commit -m \"Fix: tokenizer off-by-one\" && git push origin main",
    "λx. x + 1; (λf. f f) (λf. f f)",
    "std::vector<std::pair<int, std::string>> v{{1, \"one\"}, {2, \"two\"}};",
    "// TODO(bob): remove this hack before 2025-01-01\n/* block */ /** doc */",
    "$ ./configure --prefix=/usr/local && make -j8 && sudo make install",
    "a_b_c __init__ __main__ snake_case camelCase PascalCase kebab-case SCREAMING_CASE",
    "https://huggingface.co/docs/tokenizers/index#quicktour?lang=en&x=1",
    "http://example.org/path/to/file.tar.gz ftp://ftp.example.com/pub/",
    "C:\\Users\\Public\\Documents\\file.txt and /home/user/.config/app.toml",
    "user@host:~$ echo $HOME; ls -la | grep '\\.txt$'",
    "print('héllo wörld'); // ünïcödé in code",
    "0b1010 0o777 0xDEADBEEF 1_000_000 3.14159e-10 -42 +7",
    "<|endoftext|> is not a special token in every tokenizer.",
    "regex: ^(?:[a-z0-9!#$%&'*+/=?^_`{|}~-]+)$",
]
for c in code:
    add(c)

# Other scripts.
world = [
    "日本語のテキストをトークン化します。",
    "東京は日本の首都です。人口は約1400万人です。",
    "ひらがな、カタカナ、漢字が混ざった文章：「こんにちは、世界！」",
    "吾輩は猫である。名前はまだ無い。",
    "机器学习是人工智能的一个分支。",
    "我们今天去公园散步，天气很好。",
    "繁體中文與简体中文混合在一起。",
    "한국어 문장을 토큰화합니다.",
    "안녕하세요, 세계! 오늘 날씨가 좋네요.",
    "대한민국의 수도는 서울입니다.",
    "مرحبا بالعالم! هذه جملة باللغة العربية.",
    "اللغة العربية تكتب من اليمين إلى اليسار، والأرقام ١٢٣٤٥ كذلك.",
    "नमस्ते दुनिया! यह हिंदी में एक वाक्य है।",
    "भारत की राजधानी नई दिल्ली है।",
    "Привет, мир! Это предложение на русском языке.",
    "Γειά σου κόσμε! Αυτή είναι μια ελληνική πρόταση.",
    "שלום עולם! זה משפט בעברית.",
    "สวัสดีชาวโลก นี่คือประโยคภาษาไทย",
    "Xin chào thế giới! Đây là một câu tiếng Việt.",
    "Zażółć gęślą jaźń. Příliš žluťoučký kůň úpěl ďábelské ódy.",
    "Ärger über Öl und Übermaß: Straße, Maß, Fuß.",
    "¿Dónde está la biblioteca? ¡Aquí está!",
    "Ça va? Très bien, merci. Où est le café?",
    "İstanbul'da ılık bir gün; IĞDIR, ıspanak, İZMİR.",
    "Ελληνικά ΣΊΣΥΦΟΣ σίσυφος: final sigma ς.",
    "ᚠᛇᚻ᛫ᛒᛦᚦ᛫ᚠᚱᚩᚠᚢᚱ᛫ᚠᛁᚱᚪ᛫ᚷᛖᚻᚹᛦᛚᚳᚢᛗ",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝕞𝕒𝕥𝕙 𝓼𝓬𝓻𝓲𝓹𝓽 letters",
    "ｆｕｌｌｗｉｄｔｈ　ＡＢＣ　１２３ and ﾊﾝｶｸ half-width katakana",
    "Ⅻ ⅻ ① ② ½ ¾ ² ³ ₁ ₂ ™ ℃ № ㎏ ﬁ ﬂ",
    "አማርኛ ቋንቋ። ᏣᎳᎩ ᎦᏬᏂᎯᏍᏗ",
]
for w in world:
    add(w)

# Emoji.
emoji = [
    "I love tokenizers 😀😃😄",
    "👍👍🏻👍🏼👍🏽👍🏾👍🏿",
    "Family: 👨‍👩‍👧‍👦 and 👩‍❤️‍💋‍👨 and 🏳️‍🌈 and 🏴‍☠️",
    "Flags: 🇯🇵🇺🇸🇫🇷🇩🇪 and keycaps 1️⃣ #️⃣",
    "🧑🏽‍💻 writes code, 👩🏿‍🔬 runs tests",
    "Emoji without spaces:🔥🔥🔥and text",
    "❤️ vs ❤ vs ♥",
    "🤖 🦾 🧠 ⚡",
]
for e in emoji:
    add(e)

# Combining accents: NFC and NFD forms of the same text.
accented = ["café", "naïve résumé", "Ångström", "Việt Nam", "São Paulo", "Čeština", "ñandú", "Zoë Brontë", "가나다", "が ぱ ヴ"]
for a in accented:
    add(unicodedata.normalize("NFC", a))
    add(unicodedata.normalize("NFD", a))
    add("x" + unicodedata.normalize("NFD", a) + "y")
add("e\u0301\u0301\u0301 stacked accents a\u0308\u0304 o\u0328\u0301")
add("Z\u0351\u036b\u0343\u036a\u0302\u036b\u033d\u034f\u0334\u0319\u0324\u031e\u0349\u035a\u032f\u031e\u0320\u034dA\u036b\u0357\u0334\u0362\u0335\u031c\u0330\u0354L\u0368\u0367\u0369\u0358\u0320G\u0311\u0357\u030e\u0305\u035b\u0341\u0334\u033b\u0348\u034d\u0354\u0339O\u0342\u030c\u030c\u0358\u0328\u0335\u0339\u033b\u031d\u0333")

# Whitespace.
spaces = [
    " leading space", "trailing space ", "  two leading", "two trailing  ", "   ", " ", "",
    "\t", "\n", "\r\n", "\n\n\n", "a\nb", "a\r\nb", "a\rb", "a\tb", "a \tb", "a\t b",
    "multiple    spaces   between     words", "line one\nline two\n\nline four",
    "windows\r\nline\r\nendings\r\n", "mixed \t \n \r\n whitespace \u3000 ideographic",
    "nbsp\u00a0here and\u2009thin\u200aspaces", "zero\u200bwidth\u200cjoiners\u200d",
    "ends with newline\n", "\nstarts with newline", "  \n  \n  ", "tab\tseparated\tvalues\t1\t2",
    "a  b   c    d     e      f", "   leading and trailing   ", "\t\tTwo tabs", "x\u0085y next line", "x\u180ey mongolian",
    "\u2028line sep\u2029para sep", "\ufeffBOM at start", "\u00adsoft\u00adhyphen",
    "end with spaces and newline  \n", "space before newline \nand after\n next",
    # Characters where Unicode White_Space (Oniguruma's \s) and PCRE2's \s disagree.
    "\u180e\u180e!", "word\u180e\u180e\u180e\nnext", " \u180e \u180e ", "\u0085\u0085x", "a \u0085\n b",
    "\u001c\u001d\u001e\u001f separators", "tail\u180e", "\u180e", "\u2007\u2007figure spaces\u2007",
]
for s in spaces:
    add(s)

# Digits of many lengths.
digits = ["1", "12", "123", "1234", "12345", "123456", "1234567", "12345678901234567890",
          "3.14159265358979", "1,000,000", "1.000.000,00", "2024-06-01T12:34:56Z", "+49 30 1234567",
          "0.0001", "1e10", "99%", "$1,234.56", "€100", "¥5000", "v1.2.3-rc.4", "٠١٢٣٤٥٦٧٨٩", "०१२३४५६७८९",
          "１２３４５", "a1b22c333d4444", "007", "x = 10000000000 + 2", "123abc456def", "1st 2nd 3rd 4th 21st"]
for d in digits:
    add(d)

# Special-token strings embedded in text.
specials = [
    "<s>", "</s>", "<unk>", "<s> Hello </s>", "Hello<s>world", "Hello <s> world", "<s><s></s></s>",
    "<|begin_of_text|>", "<|begin_of_text|>Hello", "Hello<|end_of_text|>", "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>",
    "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHi<|im_end|>",
    "<|im_start|>", "<|im_end|>", "<|endoftext|>", "text<|endoftext|>text", "<|fim_prefix|>def f():<|fim_suffix|>\n<|fim_middle|>",
    "<think>\nreasoning\n</think>\n\nanswer", "<tool_call>{\"name\": \"f\"}</tool_call>",
    "<|reserved_special_token_0|> and <|reserved_special_token_250|>", "< s > and <s and s> and <<s>>",
    "<|im_start|><|im_end|><|im_start|>", "<|begin_of_text|><|begin_of_text|>", " <s>", "<s> ", " </s> ",
    "<|eot_id|>", "<|unknown_token|>", "<|", "|>", "<|im_", "im_start|>",
    "<bos> <eos> <pad> [CLS] [SEP] [MASK]",
    # Added tokens of the tests/data/tokenizer fixtures: lstrip, rstrip, single_word, normalized.
    "a <mask> b", "x<mask>y", "  <mask>  end", "<mask><mask> <mask>\t<mask>\n", "\u3000<mask>\u3000",
    "[WORD] in [WORD]s and x[WORD] or ([WORD]) [WORD]_ é[WORD]", "[WORD]",
    "New York, new york, NEW  YORK, new\tyork, Nëw Yörk and newyork", "[MASK]   [MASK]x  [MASK]",
    "<|bos|>hello<|eos|>", "<cls> and <sep> typed by hand", "<unk><unk>unk",
]
for s in specials:
    add(s)

# Invalid-looking sequences (valid Unicode text that resembles encoding errors or byte tokens).
weird = [
    "\ufffd", "\ufffd\ufffd\ufffd", "replacement \ufffd char", "<0x00> <0xFF> <0x0A>", "<0xE3><0x81><0x82>",
    "Ã©tÃ© mojibake Ã¼ber", "\\xff\\xfe escaped bytes", "\\u0000 and \\n literal",
    "\u0000 nul \u0001 soh \u001f us \u007f del", "\u0080\u0081\u009f C1 controls", "\ue000 private use \U000F0000",
    "\U0001F600 astral", "\u200e\u200f LRM RLM \u202a\u202b\u202c\u202d\u202e", "Ġ Ċ ĉ ▁ ▁▁ ▁hello", "ĠĠĠ ÃĥÂĤ",
    "\uffff\ufffe noncharacters", "𐀀𐀁 linear b", "\U0010FFFD max plane",
]
for w in weird:
    add(w)

# Systematic combinations: words with every contraction, case variant and separator.
words = ["hello", "world", "token", "model", "learning", "Tunebench", "GPU", "café", "東京", "🙂"]
seps = [" ", "  ", "\t", "\n", ", ", "-", "_", "/", ".", "'s ", "'LL ", "'re ", " 42 ", "\r\n"]
for i, w1 in enumerate(words):
    for j, sep in enumerate(seps):
        w2 = words[(i * 3 + j) % len(words)]
        variant = (i + j) % 3
        a = w1.upper() if variant == 1 else w1.capitalize() if variant == 2 else w1
        add(a + sep + w2)

for n in range(1, 25):
    add("x" + " " * n + "y")
    add("9" * n)
for n in range(1, 9):
    add("\n" * n + "z" + "\t" * n)
    add("ab" * (n * 3))

# Longer paragraphs.
para = (
    "Tunebench fine-tunes small language models on one machine. It reads Hugging Face checkpoints, "
    "tokenizes the dataset exactly as the reference tokenizer would, and trains LoRA adapters. "
    "The tokenizer must agree id for id; otherwise the model sees text it was never trained on.\n\n"
    "Known pitfalls include: leading spaces, special tokens inside user text (like <s> or <|im_start|>), "
    "Unicode normalization (é vs e\u0301), and digits split in groups of three (1234567 → 123 456 7)."
)
add(para)
add(para.upper())
add(para.replace(" ", "  "))
add((para + " ") * 3)

def encode_line(s):
    # Readable UTF-8, but line separators escaped so every record stays on one physical line.
    out = json.dumps({"text": s}, ensure_ascii=False)
    return out.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029").replace("\x85", "\\u0085")

json_lines = [encode_line(s) for s in lines]
print("\n".join(json_lines))
