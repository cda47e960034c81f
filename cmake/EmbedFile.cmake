# cmake -DINPUT=file -DOUTPUT=file.cpp -P EmbedFile.cmake
# Writes kTunebenchDemoCorpus[] / kTunebenchDemoCorpusSize holding INPUT's bytes.
file(READ ${INPUT} hex HEX)
string(LENGTH "${hex}" hexLength)
math(EXPR size "${hexLength} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n" bytes "${bytes}")
file(WRITE ${OUTPUT} "// Generated from ${INPUT}; do not edit.\nextern const unsigned char kTunebenchDemoCorpus[];\nextern const unsigned long kTunebenchDemoCorpusSize;\nconst unsigned char kTunebenchDemoCorpus[] = {\n${bytes}0};\nconst unsigned long kTunebenchDemoCorpusSize = ${size};\n")
